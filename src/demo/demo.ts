/**
 * `npm run demo`: a farm cooperative (provider) and an agronomy service (consumer) as two separate
 * connector processes in a temporary directory, with certificates from one dataspace CA made by
 * `hedgerow ca`. The cooperative publishes parcel yields; the agronomy service reads the catalog and
 * negotiates an agreement over the Dataspace Protocol. Exits 0 only if that worked.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_PATH, spawnConnector, type ConnectorProcess } from './node-process';

interface Member {
  name: string;
  dir: string;
  participantId: string;
  apiKey: string;
  node?: ConnectorProcess;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function cli(args: string[], cwd: string): string {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  if (r.status !== 0) throw new Error(`hedgerow ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

async function api<T = any>(m: Member, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${m.node!.managementUrl}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${m.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(`${method} ${route}: ${json.error?.message ?? res.status}`);
  return json;
}

async function until<T>(what: string, check: () => Promise<T | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function member(root: string, ca: string, name: string, participantId: string, organization: string, country: string): Member {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  const out = cli(['init', '--participant-id', participantId, '--hostname', 'localhost', '--organization', organization, '--country', country, '--ca', ca], dir);
  // Both run on this machine: let them call each other on loopback (refused by default as SSRF).
  fs.writeFileSync(path.join(dir, 'hedgerow.json'), JSON.stringify({ dsp: { allowedAddresses: ['localhost', '127.0.0.1'] } }));
  return { name, dir, participantId, apiKey: /management API key[^:]*: (\S+)/.exec(out)![1]! };
}

async function start(m: Member): Promise<void> {
  m.node = await spawnConnector({
    cwd: m.dir,
    args: ['--config', 'hedgerow.json'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HEDGEROW_PUBLIC_API_PORT: '0', HEDGEROW_MANAGEMENT_API_PORT: '0', HEDGEROW_PUBLIC_API_HOST: '127.0.0.1' },
  });
  say(`   ${m.name} (${m.participantId}) listening on ${m.node.publicUrl}`);
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-demo-'));
  const members: Member[] = [];
  try {
    say('1. dataspace CA and two members');
    const ca = path.join(root, 'dataspace-ca');
    cli(['ca', 'init', '--dir', ca, '--name', 'Demo dataspace CA'], root);
    const coop = member(root, ca, 'cooperative', 'did:web:coop.example', 'Coop du Val', 'FR');
    const agro = member(root, ca, 'agronomy', 'did:web:agro.example', 'AgroConseil', 'FR');
    members.push(coop, agro);
    await start(coop);
    await start(agro);

    say('2. the cooperative publishes parcel yields, for EU participants only');
    const csv = 'parcel,crop,year,yield_t_ha\nFR-44-0012,wheat,2026,7.9\nFR-44-0013,maize,2026,10.2\nFR-44-0014,rapeseed,2026,3.6\n';
    const assets = path.join(coop.dir, 'data', 'assets');
    fs.mkdirSync(assets, { recursive: true });
    fs.writeFileSync(path.join(assets, 'parcel-yields-2026.csv'), csv);
    await api(coop, 'POST', '/assets', {
      id: 'parcel-yields-2026',
      title: 'Parcel yields 2026',
      description: 'Yield per parcel, member farms of Coop du Val',
      keywords: ['yield', 'parcel', 'wheat'],
      contentType: 'text/csv',
      originator: 'farm:FR-44-0012',
      source: { type: 'file', path: 'parcel-yields-2026.csv' },
    });
    await api(coop, 'POST', '/policies', { id: 'members-and-partners', title: 'visible to every participant', policy: { permission: [{ action: 'use' }] } });
    await api(coop, 'POST', '/policies', {
      id: 'eu-only',
      title: 'use by participants established in the EU',
      policy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'spatial', operator: 'isA', rightOperand: 'EU' }] }] },
    });
    await api(coop, 'POST', '/offers', { id: 'yields', accessPolicyId: 'members-and-partners', contractPolicyId: 'eu-only', assetIds: ['parcel-yields-2026'] });

    say('3. the agronomy service reads the catalog over DSP (signed peer tokens, mutual trust through the CA)');
    const dsp = `${coop.node!.publicUrl}/dsp/2025-1`;
    const catalog = await api(agro, 'POST', '/catalog/request', { counterPartyAddress: dsp, counterPartyId: coop.participantId });
    const dataset = (catalog.dataset as any[]).find((d) => d['@id'] === 'parcel-yields-2026');
    const offer = dataset.hasPolicy[0];
    say(`   dataset ${dataset['@id']} "${dataset['dct:title']}", offer ${offer['@id']}`);

    say('4. negotiation');
    const started = await api(agro, 'POST', '/negotiations', { counterPartyAddress: dsp, counterPartyId: coop.participantId, offer, datasetId: dataset['@id'] });
    const done = await until('the negotiation to end', async () => {
      const n = await api(agro, 'GET', `/negotiations/${encodeURIComponent(started.id)}`);
      return (n.state === 'FINALIZED' || n.state === 'TERMINATED') && n;
    });
    for (const e of done.timeline) say(`   ${e.at.slice(11, 23)} ${e.kind.padEnd(10)} ${(e.messageType ?? '').padEnd(38)} ${e.fromState ?? ''}${e.toState ? ` -> ${e.toState}` : ''}`);
    if (done.state !== 'FINALIZED') throw new Error(`negotiation ${done.state}: ${done.error}`);

    say('5. the agreement');
    const agreement = await api(agro, 'GET', `/agreements/${encodeURIComponent(done.agreementId)}`);
    say(JSON.stringify(agreement.agreement, null, 2).replace(/^/gm, '   '));

    say('6. transfer: the agronomy service pulls the dataset');
    const transfer = await api(agro, 'POST', '/transfers', { agreementId: done.agreementId });
    await until('the transfer to start', async () => (await api(agro, 'GET', `/transfers/${encodeURIComponent(transfer.id)}`)).state === 'STARTED');
    const address = await api(agro, 'GET', `/transfers/${encodeURIComponent(transfer.id)}/data-address`);
    const pulled = await api(agro, 'POST', `/transfers/${encodeURIComponent(transfer.id)}/download`, { fileName: 'parcel-yields-2026.csv' });
    say(`   SHA-256 published by the cooperative: ${address.sha256}`);
    say(`   SHA-256 computed by the agronomy:    ${pulled.sha256} (${pulled.bytes} bytes, ${pulled.file})`);
    if (address.sha256 !== pulled.sha256) throw new Error('digests differ');
    const finished = await until('the transfer to complete', async () => {
      const t = await api(coop, 'GET', `/transfers/${encodeURIComponent((await api(agro, 'GET', `/transfers/${encodeURIComponent(transfer.id)}`)).providerPid)}`);
      return t.state === 'COMPLETED' && t;
    });
    say(`   transfer ${finished.state} on both sides`);
    say('\ndemo succeeded');
  } finally {
    for (const m of members) await m.node?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
