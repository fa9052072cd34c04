import tls from 'node:tls';
import type { Agent, Dispatcher } from 'undici';
import { undiciLib } from '../../lazy';
import type { TokenSigner } from '../../identity/peer-token';
import type { AddressGuard } from '../../net/address-guard';
import { HedgerowError } from '../../errors';

/**
 * Our own typed error (the address guard's ForbiddenError, thrown from the connect-time `lookup`)
 * somewhere in what undici rejected with: the error itself or its cause chain.
 */
function guardRefusal(err: unknown): HedgerowError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    if (e instanceof HedgerowError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Join a base URL (with or without trailing slash) and an absolute path. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

export interface DspResponse {
  status: number;
  /** Parsed JSON body, or null when the peer sent none (peers may answer 200 with an empty body). */
  body: unknown;
}

export interface DspClientOptions {
  signer: TokenSigner;
  guard: AddressGuard;
  /** Extra CA certificates (PEM) trusted for peers' TLS, besides the system roots: our dataspace anchors. */
  trustedCas: () => string[];
  timeoutMs?: number;
  maxResponseBytes?: number;
}

/**
 * Outbound Dataspace Protocol HTTP: every request signed with a fresh peer token, TLS verified
 * against system roots plus the dataspace trust anchors, peer addresses checked by the SSRF guard.
 */
export class DspClient {
  private agent: Agent | undefined;
  private agentCas = '';

  constructor(private readonly opts: DspClientOptions) {}

  /** One connection pool (also used by the data plane), rebuilt only when the trust anchors change. */
  dispatcher(): Dispatcher {
    const cas = this.opts.trustedCas();
    const key = cas.join('');
    if (!this.agent || key !== this.agentCas) {
      void this.agent?.close();
      this.agentCas = key;
      // One secure context for every connection: building one per connection from ~140 system roots
      // cost more CPU than the protocol itself under load.
      const secureContext = tls.createSecureContext({ ca: [...tls.rootCertificates, ...cas] });
      this.agent = new (undiciLib().Agent)({
        connect: { secureContext, lookup: this.opts.guard.lookup(), timeout: 10_000 },
        headersTimeout: this.opts.timeoutMs ?? 30_000,
        bodyTimeout: this.opts.timeoutMs ?? 30_000,
        maxResponseSize: this.opts.maxResponseBytes ?? 16 * 1024 * 1024,
        keepAliveTimeout: 4_000,
        connections: 32,
      });
    }
    return this.agent;
  }

  async send(method: 'GET' | 'POST', url: string, audience: string, body?: object): Promise<DspResponse> {
    this.opts.guard.checkUrl(url, 'peer address');
    const token = await this.opts.signer.sign(audience);
    let res;
    try {
      res = await undiciLib().request(url, {
      method,
      dispatcher: this.dispatcher(),
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      // The SSRF guard refusing the resolved address (inside undici's connect) stays what it is: a
      // permanent refusal the outbox settles at once and the management API reports as the caller's error.
      const refusal = guardRefusal(err);
      if (refusal) throw refusal;
      // Network and TLS failures: one clear line naming the peer (retried by the outbox, 502 on the API).
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const detail = [(err as { code?: string }).code, cause?.code ?? cause?.message ?? (err as Error).message].filter(Boolean).join(' ');
      throw new HedgerowError('PEER_UNREACHABLE', `cannot reach ${new URL(url).host}: ${detail}`, { httpStatus: 502, cause: err });
    }
    const text = await res.body.text();
    let parsed: unknown = null;
    if (text.trim()) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null; // a non-JSON body (HTML error page) carries no protocol meaning
      }
    }
    return { status: res.statusCode, body: parsed };
  }

  post(url: string, audience: string, body: object): Promise<DspResponse> {
    return this.send('POST', url, audience, body);
  }

  get(url: string, audience: string): Promise<DspResponse> {
    return this.send('GET', url, audience);
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}
