import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import { expandDsp } from './dsp-jsonld';

export interface Received {
  path: string;
  body: Record<string, unknown>;
}

type Reply = { status: number; body?: unknown };

interface Handler {
  pattern: RegExp;
  reply: (r: Received) => Reply;
  resolve: (r: Received) => void;
}

/**
 * A stand-in for the Eclipse DSP TCK's callback server: plain HTTP, handlers registered per step,
 * 404 "No handler registered" for anything that arrives early (exactly as the TCK does, so the
 * connector's retry path is exercised). Every body it receives is schema-validated and JSON-LD
 * expanded with only the two DSP contexts, as the TCK does; violations are collected in `problems`.
 */
export class FakeTck {
  private server = http.createServer((req, res) => this.handle(req, res));
  private handlers: Handler[] = [];
  readonly problems: string[] = [];
  readonly log: Received[] = [];
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Register a handler for the next message whose path matches; resolves with what arrived. */
  expect(pattern: RegExp, reply: (r: Received) => Reply = () => ({ status: 200 }), timeoutMs = 10_000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const handler: Handler = { pattern, reply, resolve: (r) => (clearTimeout(timer), resolve(r)) };
      const timer = setTimeout(() => {
        this.handlers = this.handlers.filter((h) => h !== handler);
        reject(new Error(`no message on ${pattern} within ${timeoutMs} ms; received: ${this.log.map((l) => l.path).join(', ')}`));
      }, timeoutMs);
      this.handlers.push(handler);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').replace(/\/+$/, '');
      const index = this.handlers.findIndex((h) => h.pattern.test(path));
      if (index < 0) {
        res.writeHead(404).end('No handler registered on this endpoint');
        return;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        this.problems.push(`${path}: body is not JSON`);
        res.writeHead(400).end();
        return;
      }
      const [handler] = this.handlers.splice(index, 1);
      const received = { path, body };
      this.log.push(received);
      void this.check(received);
      const reply = handler!.reply(received);
      if (reply.body === undefined) res.writeHead(reply.status).end();
      else res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      handler!.resolve(received);
    });
  }

  private async check(r: Received): Promise<void> {
    const schema = validateDspMessage(r.body);
    if (!schema.ok) this.problems.push(`${r.path}: ${JSON.stringify(schema.errors)}`);
    try {
      const expanded = await expandDsp(r.body);
      if (!expanded.length) this.problems.push(`${r.path}: JSON-LD expansion is empty`);
    } catch (err) {
      this.problems.push(`${r.path}: JSON-LD expansion failed: ${(err as Error).message}`);
    }
  }
}
