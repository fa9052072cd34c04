import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { runCli, tempDir } from '../helpers/cli';
import { agreementFor, api, coopAndAgro, eventually, killMembers, publishSample, startMember, type Member } from '../helpers/dataspace';
import type { AuditBundle } from '../../src/audit/bundle';
import type { AuditEntry } from '../../src/audit/chain';

/**
 * Two real connector processes negotiate and transfer; both audit trails then hold the expected events, export as
 * bundles that verify offline, and `hedgerow audit verify` passes on the running provider.
 */
describe('audit trail of running connectors', () => {
  const tmp = tempDir('hedgerow-audit-it-');
  let provider: Member;
  let consumer: Member;
  let dsp: string;
  let agent: Agent;
  const content = crypto.randomBytes(256 * 1024 + 3);
  let agreementId: string;
  let consumerTransfer: { id: string; providerPid: string };
  let pullToken: string;

  const cli = (m: Member, args: string[]) => runCli([...args, '--config', m.config], { cwd: m.dir });
  const find = (entries: AuditEntry[], event: string, detail: Record<string, unknown> = {}) =>
    entries.find((e) => e.event === event && Object.entries(detail).every(([k, v]) => JSON.stringify((e.detail as Record<string, unknown>)[k]) === JSON.stringify(v)));

  beforeAll(async () => {
    [provider, consumer] = coopAndAgro(tmp.dir);
    await startMember(provider);
    await startMember(consumer);
    dsp = `https://localhost:${provider.node!.publicPort}/dsp/2025-1`;
    agent = new Agent({ connect: { ca: fs.readFileSync(path.join(tmp.dir, 'ca', 'ca.crt.pem')) } });
    await publishSample(provider, { assetId: 'yields', content });

    // Negotiate.
    agreementId = await agreementFor(consumer, provider, dsp, 'yields');

    // Transfer: pull, download, complete.
    const t = await api(consumer, 'POST', '/transfers', { agreementId });
    await eventually(async () => (await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}`)).state === 'STARTED', 15_000, 'STARTED');
    pullToken = (await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}/data-address`)).authorization;
    const result = await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/download`, { fileName: 'yields.bin' });
    expect(result.bytes).toBe(content.length);
    consumerTransfer = await eventually(async () => {
      const x = await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}`);
      return x.state === 'COMPLETED' && x;
    }, 15_000, 'COMPLETED');
    await eventually(async () => (await api(provider, 'GET', `/transfers/${encodeURIComponent(consumerTransfer.providerPid)}`)).state === 'COMPLETED', 15_000, 'provider COMPLETED');

    // A request without a peer token.
    const anonymous = await request(`${dsp}/catalog/request`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
  });

  afterAll(async () => {
    await killMembers(provider, consumer);
    await agent?.close();
    tmp.cleanup();
  });

  it('the provider records negotiation, decisions, transfer, data access and the failed authentication; `hedgerow audit export` bundles it', async () => {
    const out = path.join(tmp.dir, 'coop-audit.json');
    const exported = cli(provider, ['audit', 'export', '--out', out]);
    expect(exported.stderr).toBe('');
    expect(exported.status).toBe(0);
    const bundle = JSON.parse(fs.readFileSync(out, 'utf8')) as AuditBundle;
    const entries = bundle.entries;
    const consumerId = consumer.participantId;
    const negotiationId = find(entries, 'negotiation.received', { message: 'ContractRequestMessage' })!.processId;
    expect(find(entries, 'negotiation.received', { message: 'ContractRequestMessage', to: 'REQUESTED' })).toMatchObject({ actor: consumerId });
    expect(find(entries, 'policy.decision', { scope: 'negotiation', allowed: true })).toMatchObject({ processId: negotiationId, actor: provider.participantId });
    expect(find(entries, 'negotiation.transition', { message: 'ContractAgreementMessage', to: 'AGREED' })).toBeDefined();
    expect(find(entries, 'negotiation.sent', { message: 'ContractAgreementMessage' })).toBeDefined();
    expect(find(entries, 'negotiation.received', { message: 'ContractAgreementVerificationMessage', to: 'VERIFIED' })).toMatchObject({ actor: consumerId });
    expect(find(entries, 'negotiation.transition', { to: 'FINALIZED' })).toBeDefined();
    const providerPid = consumerTransfer.providerPid;
    expect(find(entries, 'transfer.received', { message: 'TransferRequestMessage' })).toMatchObject({ processId: providerPid, actor: consumerId });
    expect(find(entries, 'policy.decision', { scope: 'transfer', allowed: true })).toMatchObject({ processId: providerPid });
    expect(find(entries, 'policy.decision', { scope: 'transfer', access: 'GET', allowed: true })).toMatchObject({ processId: providerPid, actor: consumerId });
    expect(find(entries, 'transfer.transition', { message: 'TransferStartMessage', to: 'STARTED' })).toMatchObject({ processId: providerPid });
    expect(find(entries, 'data.access', { method: 'GET', status: 200 })).toMatchObject({
      processId: providerPid,
      actor: consumerId,
      detail: { transferId: providerPid, agreementId, bytes: content.length, complete: true },
    });
    expect(find(entries, 'transfer.received', { message: 'TransferCompletionMessage', to: 'COMPLETED' })).toBeDefined();
    expect(find(entries, 'auth.failure', { area: 'catalog', reason: 'TOKEN_MISSING' })).toMatchObject({ actor: 'anonymous' });
    // Never a token in the entries.
    const text = JSON.stringify(entries);
    expect(text).not.toContain(pullToken.replace(/^Bearer /, '').slice(0, 40));
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);

    // The head names the DID verification method of the connector as kid.
    const did = await request(`https://localhost:${provider.node!.publicPort}/.well-known/did.json`, { dispatcher: agent });
    const doc = (await did.body.json()) as { verificationMethod: Array<{ id: string }> };
    const header = JSON.parse(Buffer.from(bundle.head.jws.split('.')[0]!, 'base64url').toString('utf8'));
    expect(header).toMatchObject({ alg: 'ES256', kid: doc.verificationMethod[0]!.id });

    // Offline, with only the dataspace CA.
    const anchorFile = path.join(tmp.dir, 'ca', 'ca.crt.pem');
    const offline = runCli(['audit', 'verify', '--bundle', out, '--anchor', anchorFile], { cwd: tmp.dir });
    expect(offline.stdout).toMatch(/RESULT: PASS/);
    expect(offline.status).toBe(0);
    // And locally, against the running connector's database.
    const local = cli(provider, ['audit', 'verify']);
    expect(local.stdout).toMatch(/chain: OK/);
    expect(local.status).toBe(0);
  });

  it('the consumer records its side, and serves verification and export on the management API', async () => {
    const report = await api(consumer, 'GET', '/audit/verify');
    expect(report).toMatchObject({ ok: true, source: 'database', participantId: consumer.participantId, firstBroken: null });
    const bundle = (await api(consumer, 'GET', `/audit/export?process=${encodeURIComponent(consumerTransfer.id)}`)) as AuditBundle;
    expect(bundle.selection.processId).toBe(consumerTransfer.id);
    const mine = bundle.entries.filter((e) => e.processId === consumerTransfer.id);
    expect(mine.map((e) => e.event)).toEqual(expect.arrayContaining(['transfer.transition', 'transfer.sent', 'transfer.received']));
    expect(find(mine, 'transfer.transition', { message: 'TransferRequestMessage' }) ?? find(mine, 'transfer.sent', { message: 'TransferRequestMessage' })).toBeDefined();
    expect(find(mine, 'transfer.received', { message: 'TransferStartMessage', to: 'STARTED' })).toMatchObject({ actor: provider.participantId });
    expect(find(bundle.entries, 'negotiation.received', { message: 'ContractAgreementMessage' }) ?? find((await api(consumer, 'GET', '/audit/export')).entries, 'negotiation.received', { message: 'ContractAgreementMessage' })).toBeDefined();
    const file = path.join(tmp.dir, 'agro-transfer.json');
    fs.writeFileSync(file, JSON.stringify(bundle));
    const offline = runCli(['audit', 'verify', '--bundle', file, '--anchor', path.join(tmp.dir, 'ca', 'ca.crt.pem')], { cwd: tmp.dir });
    expect(offline.stdout).toMatch(/RESULT: PASS/);
    await expect(api(consumer, 'GET', '/audit/export?from=yesterday')).rejects.toThrow(/HTTP 400/);
  });

  it('signs the head at a graceful stop, so nothing is left unsigned', async () => {
    expect(await consumer.node!.stop('SIGTERM')).toBe(0);
    consumer.node = undefined;
    const r = cli(consumer, ['audit', 'verify', '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.unsignedEntries).toBe(0);
    expect(report.signedHeads.lastSignedSeq).toBe(report.lastSeq);
  });
});
