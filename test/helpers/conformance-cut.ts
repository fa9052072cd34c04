import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { runCli, startNode, type RunningNode } from './cli';

/** The connector under test in the conformance profile, as the DSP TCK suites drive it. */

export type Json = Record<string, unknown>;
export const CTX = ['https://w3id.org/dspace/2025/1/context.jsonld'];
export const TCK_ID = 'TCK_PARTICIPANT';
/** The Authorization value the TCK sends verbatim (EDC's TCK setup uses this JSON string). */
export const TCK_TOKEN = '{"region":"any","audience":"any","clientId":"TCK_PARTICIPANT"}';
export const CUT_ID = 'urn:hedgerow:cut';
export const uuid = (): string => crypto.randomUUID();

export interface ConformanceCut {
  node: RunningNode;
  /** TLS trust in the connector's development CA. */
  agent: Agent;
  /** The connector's DSP base URL. */
  dsp: string;
  apiKey: string;
  /** A DSP request as the TCK makes it: static Authorization header, JSON in and out. */
  call(method: 'GET' | 'POST', url: string, body?: Json, token?: string): Promise<{ status: number; body: Json | null }>;
  stop(): Promise<void>;
}

/** init + start in `dir` with the conformance profile, the TCK's token (and `extraTokens`) mapped, loopback allowed. */
export async function startConformanceCut(dir: string, extraTokens: Record<string, string> = {}): Promise<ConformanceCut> {
  const init = runCli(['init', '--participant-id', CUT_ID, '--hostname', 'localhost'], { cwd: dir });
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
  const config = path.join(dir, 'tck.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      conformance: { enabled: true },
      dsp: {
        staticTokens: { [TCK_TOKEN]: TCK_ID, ...extraTokens },
        allowedAddresses: ['127.0.0.1', 'localhost'],
        outbox: { retryInitialMs: 40, retryMaxSeconds: 1, giveUpHours: 1 },
      },
    }),
  );
  const node = await startNode({ cwd: dir, args: ['--config', config] });
  const agent = new Agent({ connect: { ca: fs.readFileSync(path.join(dir, 'certs', 'dev-ca', 'ca.crt.pem')) } });
  return {
    node,
    agent,
    dsp: `https://localhost:${node.publicPort}/dsp/2025-1`,
    apiKey,
    async call(method, url, body, token = TCK_TOKEN) {
      const res = await request(url, {
        method,
        dispatcher: agent,
        headers: { authorization: token, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: text ? (JSON.parse(text) as Json) : null };
    },
    async stop() {
      await node.stop();
      await agent.close();
    },
  };
}
