import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { runCli, startNode, type RunningNode } from './cli';

/** A port that was free a moment ago (for nodes that must come back on the same address). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Member {
  name: string;
  dir: string;
  participantId: string;
  apiKey: string;
  config: string;
  /** Environment every start of this member gets (e.g. a fixed public port). */
  env: Record<string, string>;
  node?: RunningNode;
}

/** A dataspace CA in `root/ca` and members initialised from it, each with its own directory and config file. */
export function createMembers(
  root: string,
  names: Array<{ name: string; participantId: string; config?: Record<string, unknown>; env?: Record<string, string> }>,
): Member[] {
  const ca = runCli(['ca', 'init', '--dir', path.join(root, 'ca'), '--name', 'Test dataspace CA'], { cwd: root });
  if (ca.status !== 0) throw new Error(ca.stderr);
  return names.map(({ name, participantId, config, env }) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    const init = runCli(['init', '--participant-id', participantId, '--hostname', 'localhost', '--ca', path.join(root, 'ca')], { cwd: dir });
    if (init.status !== 0) throw new Error(init.stderr);
    const apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    const file = path.join(dir, 'hedgerow.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ ...config, dsp: { allowedAddresses: ['localhost', '127.0.0.1'], outbox: { retryInitialMs: 50, retryMaxSeconds: 1, giveUpHours: 1 }, ...(config?.dsp as object) } }),
    );
    return { name, dir, participantId, apiKey, config: file, env: env ?? {} };
  });
}

type MemberOptions = { config?: Record<string, unknown>; env?: Record<string, string> };

/** The pair most tests need, from one CA: the cooperative `coop` (provider) and the agronomy service `agro` (consumer). */
export function coopAndAgro(root: string, opts: { coop?: MemberOptions; agro?: MemberOptions } = {}): [Member, Member] {
  const [coop, agro] = createMembers(root, [
    { name: 'coop', participantId: 'did:web:coop.example', ...opts.coop },
    { name: 'agro', participantId: 'did:web:agro.example', ...opts.agro },
  ]);
  return [coop!, agro!];
}

/** SIGKILL every member that was started (afterAll: nothing may outlive the test). */
export async function killMembers(...members: Array<Member | undefined>): Promise<void> {
  for (const m of members) await m?.node?.stop('SIGKILL');
}

export async function startMember(m: Member, env: Record<string, string> = {}): Promise<RunningNode> {
  m.node = await startNode({ cwd: m.dir, args: ['--config', m.config], env: { ...m.env, ...env } });
  return m.node;
}

/** Call the member's management API; throws on non-2xx with the error body. */
export async function api<T = any>(m: Member, method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<T> {
  const res = await request(`${m.node!.managementUrl}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${m.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (res.statusCode >= 300) throw new Error(`${method} ${route}: HTTP ${res.statusCode} ${text}`);
  return parsed as T;
}

/** Offer one sample asset under an open policy; returns the catalog offer id a consumer would see. */
export async function publishSample(
  provider: Member,
  opts: { assetId?: string; contractPolicy?: Record<string, unknown>; content?: string | Buffer; source?: Record<string, unknown>; originator?: string; category?: string } = {},
): Promise<void> {
  const assetId = opts.assetId ?? 'parcel-yields-2026';
  const assets = path.join(provider.dir, 'data', 'assets');
  fs.mkdirSync(assets, { recursive: true });
  if (!opts.source) fs.writeFileSync(path.join(assets, `${assetId}.csv`), opts.content ?? 'parcel,crop,yield_t_ha\nFR-44-0012,wheat,7.9\n');
  await api(provider, 'POST', '/assets', { id: assetId, title: 'Parcel yields 2026', contentType: 'text/csv', ...(opts.originator ? { originator: opts.originator } : {}), ...(opts.category ? { category: opts.category } : {}), source: opts.source ?? { type: 'file', path: `${assetId}.csv` } });
  await api(provider, 'POST', '/policies', { id: `${assetId}-access`, policy: { permission: [{ action: 'use' }] } });
  await api(provider, 'POST', '/policies', { id: `${assetId}-contract`, policy: opts.contractPolicy ?? { permission: [{ action: 'use' }] } });
  await api(provider, 'POST', '/offers', { id: `${assetId}-offer`, accessPolicyId: `${assetId}-access`, contractPolicyId: `${assetId}-contract`, assetIds: [assetId] });
}

/**
 * The consumer takes the first offer of `assetId` from the provider's catalog at `dsp` and negotiates it
 * (declaring `purpose` when given); resolves to the negotiation once it has ended, FINALIZED or TERMINATED.
 */
export async function negotiateOffer(consumer: Member, provider: Member, dsp: string, assetId: string, opts: { purpose?: string } = {}): Promise<any> {
  const catalog = await api(consumer, 'POST', '/catalog/request', { counterPartyAddress: dsp, counterPartyId: provider.participantId });
  const ds = catalog.dataset.find((d: { '@id': string }) => d['@id'] === assetId);
  if (!ds) throw new Error(`${assetId} is not in the catalog of ${provider.name}`);
  const n = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dsp, counterPartyId: provider.participantId, offer: ds.hasPolicy[0], datasetId: assetId, ...(opts.purpose ? { purpose: opts.purpose } : {}) });
  return eventually(async () => {
    const x = await api(consumer, 'GET', `/negotiations/${encodeURIComponent(n.id)}`);
    return (x.state === 'FINALIZED' || x.state === 'TERMINATED') && x;
  }, 15_000, `negotiation ${n.id} to end`);
}

/** `negotiateOffer`, which must reach FINALIZED: the agreement id. */
export async function agreementFor(consumer: Member, provider: Member, dsp: string, assetId: string): Promise<string> {
  const n = await negotiateOffer(consumer, provider, dsp, assetId);
  if (n.state !== 'FINALIZED') throw new Error(`negotiation for ${assetId} ended ${n.state}: ${n.error ?? ''}`);
  return n.agreementId;
}

/** Poll until `check` returns a value or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
