import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Agent } from 'undici';
import { Store } from '../../src/store/store';
import { TransferService } from '../../src/transfer/transfer-service';
import { ProviderDataPlane } from '../../src/transfer/data-plane';
import { signDataToken } from '../../src/transfer/data-token';
import { FactProvider } from '../../src/usage/facts';
import { AuditTrail } from '../../src/audit/audit-trail';
import { AddressGuard } from '../../src/net/address-guard';
import { createLogger } from '../../src/log/logger';
import { generateKeyPair } from '../../src/pki';
import { DspBadRequestError } from '../../src/protocol/dsp/errors';
import type { TransferState } from '../../src/statemachine/transfer';
import { MIGRATIONS } from '../../src/store/migrations';

/**
 * N-times usage (`count`) on the provider: a use is one transfer process. Its first data access (GET, ranged
 * or not, or a push) counts one use of the agreement; its later requests (a resumed download, a retry, a
 * re-read while STARTED) and every HEAD are still decided on the policy but neither counted nor refused for
 * the use already counted. A new transfer process under the same agreement is a new use.
 */
const SELF = 'did:web:coop.example';
const PEER = 'did:web:agro.example';
const CTX = ['https://w3id.org/dspace/2025/1/context.jsonld'];
const CONTENT = Buffer.from('parcel,yield\n'.repeat(200));

describe('N-times usage: a use is one transfer process', () => {
  let dir: string;
  let store: Store;
  let server: http.Server;
  let base: string;
  let transfers: TransferService;
  let dataPlane: ProviderDataPlane;
  let agent: Agent;
  let counter = 0;
  const keys = generateKeyPair('ec');
  const identity = { current: { participantId: SELF, ...keys } };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-usage-count-'));
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'yields.csv'), CONTENT);
    store = Store.open(path.join(dir, 'db'));
    store.assets.insert({ id: 'a1', title: 'yields', description: null, keywords: [], contentType: 'text/csv', originator: null, source: { type: 'file', path: 'yields.csv' } });
    const logger = createLogger({ level: 'error', format: 'json', write: () => undefined });
    const facts = new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => false });
    const guard = new AddressGuard({ allow: [] });
    agent = new Agent();
    transfers = new TransferService({
      store,
      guard,
      giveUpMs: 60_000,
      kick: () => undefined,
      logger,
      openProcessesPerPeer: 0,
      facts,
      self: () => ({ participantId: SELF, dspBaseUrl: 'https://coop.example/dsp/2025-1', callbackAddress: 'https://coop.example/dsp/2025-1/callback' }),
      dataPlane: () => dataPlane,
    });
    dataPlane = new ProviderDataPlane({
      config: { root: path.join(dir, 'data'), tokenLifetimeSeconds: 300, bandwidthBytesPerSecond: 0 },
      store,
      identity: identity as never,
      transfers: () => transfers,
      facts,
      peers: {} as never,
      guard,
      backendPolicy: guard,
      dispatcher: () => agent,
      backendDispatcher: () => agent,
      publicUrl: 'https://coop.example',
      logger,
      audit: new AuditTrail({ store, self: () => SELF }),
    });
    const app = express();
    app.use(dataPlane.router());
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await agent.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const pid = () => `urn:uuid:usage-${String(++counter).padStart(6, '0')}`;

  /** An active provider agreement with PEER allowing `count lteq n`. */
  function agreement(n: number): string {
    const id = pid();
    const negotiationId = pid();
    const policy = { permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: n }] }] };
    store.negotiations.insert({
      id: negotiationId, role: 'provider', providerPid: negotiationId, consumerPid: pid(), counterpartyId: PEER, counterpartyAddress: 'https://agro.example/cb',
      counterpartyClaims: {}, state: 'FINALIZED', nextAction: null, assetId: 'a1', offerId: 'o1', offer: null, agreementId: id, error: null,
    });
    const body = { '@id': id, '@type': 'Agreement', target: 'a1', assigner: SELF, assignee: PEER, timestamp: '2026-01-01T00:00:00Z', ...policy };
    store.agreements.insert({ id, negotiationId, role: 'provider', providerId: SELF, consumerId: PEER, assetId: 'a1', agreement: body, signedAt: body.timestamp, status: 'active' });
    return id;
  }

  /** A provider pull transfer under `agreementId`, STARTED (as after the consumer's request and our start). */
  function transfer(agreementId: string, format = 'HttpData-PULL', dataAddress: Record<string, unknown> | null = null): string {
    const id = pid();
    store.transfers.insert({
      id, role: 'provider', providerPid: id, consumerPid: pid(), counterpartyId: PEER, counterpartyAddress: 'https://agro.example/cb', agreementId, assetId: 'a1',
      format, state: 'STARTED', nextAction: null, dataAddress, dataStatus: null, bytes: null, sha256: null, error: null,
    });
    return id;
  }

  async function request(transferId: string, opts: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {}) {
    const t = store.transfers.get(transferId)!;
    const { token } = await signDataToken(identity.current, { transferId, agreementId: t.agreementId, consumerId: PEER, lifetimeSeconds: 300 });
    const res = await fetch(`${base}/data/transfers/${encodeURIComponent(transferId)}`, { method: opts.method ?? 'GET', headers: { authorization: `Bearer ${token}`, ...opts.headers } });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, error: res.status >= 400 && body.length ? (JSON.parse(body.toString()) as { error: { code: string; message: string } }).error : undefined };
  }

  const state = (transferId: string): TransferState => store.transfers.get(transferId)!.state;
  const decisions = (transferId: string) =>
    store.db
      .prepare<[string], { detail: string }>("SELECT detail FROM audit_log WHERE process_id = ? AND event = 'policy.decision' ORDER BY seq")
      .all(transferId)
      .map((r) => JSON.parse(r.detail) as { access: string; allowed: boolean; counted: boolean; use?: number });

  it('count lteq 1: a download resumed with Range is the same use; another transfer under the agreement is refused', async () => {
    const agreementId = agreement(1);
    const a = transfer(agreementId);

    const full = await request(a);
    expect(full.status).toBe(200);
    expect(full.body.equals(CONTENT)).toBe(true);
    expect(store.usage.count(agreementId)).toBe(1);

    // The link dropped after 1000 bytes: `hedgerow fetch` resumes with Range + If-Range.
    const resumed = await request(a, { headers: { range: 'bytes=1000-', 'if-range': full.headers.get('etag')! } });
    expect(resumed.status).toBe(206);
    expect(resumed.body.equals(CONTENT.subarray(1000))).toBe(true);
    const again = await request(a, { headers: { range: 'bytes=0-99' } });
    expect(again.status).toBe(206);
    expect(store.usage.count(agreementId)).toBe(1);
    expect(state(a)).toBe('STARTED');
    expect(decisions(a)).toEqual([
      expect.objectContaining({ access: 'GET', allowed: true, counted: true, use: 1 }),
      expect.objectContaining({ access: 'GET', allowed: true, counted: false, use: 1 }),
      expect.objectContaining({ access: 'GET', allowed: true, counted: false, use: 1 }),
    ]);

    // A second transfer process is a second use: refused when the consumer asks for it ...
    let requestError: unknown;
    try {
      transfers.receiveRequest({ participantId: PEER } as never, { '@context': CTX, '@type': 'TransferRequestMessage', consumerPid: pid(), agreementId, format: 'HttpData-PULL', callbackAddress: 'https://agro.example/cb' });
    } catch (err) {
      requestError = err;
    }
    expect(requestError).toBeInstanceOf(DspBadRequestError);
    expect(requestError).toMatchObject({ code: 'POLICY_DENIED', reasons: [expect.stringMatching(/count lteq 1 violated/)] });
    // ... and on its first data access when it was started before the first use was counted.
    const b = transfer(agreementId);
    const refused = await request(b, { headers: { range: 'bytes=0-99' } });
    expect(refused.status).toBe(403);
    expect(refused.error).toMatchObject({ code: 'POLICY_DENIED', message: expect.stringMatching(/count lteq 1 violated \(use number 2\)/) });
    expect(state(b)).toBe('TERMINATED');
    expect(decisions(b)).toEqual([expect.objectContaining({ access: 'GET', allowed: false, counted: false })]);
    expect(store.usage.count(agreementId)).toBe(1);

    // The first transfer is unaffected by the refusal of the second.
    expect((await request(a, { headers: { range: 'bytes=2000-' } })).status).toBe(206);
    expect(state(a)).toBe('STARTED');
  });

  it('count lteq 2: two transfers may use the agreement, each as often as it needs; a third is refused', async () => {
    const agreementId = agreement(2);
    const [a, b, c] = [transfer(agreementId), transfer(agreementId), transfer(agreementId)];
    for (const t of [a, b]) {
      expect((await request(t, { headers: { range: 'bytes=0-499' } })).status).toBe(206);
      expect((await request(t, { headers: { range: 'bytes=500-' } })).status).toBe(206);
      expect((await request(t)).status).toBe(200);
    }
    expect(store.usage.count(agreementId)).toBe(2);
    expect(store.usage.useOf(a)).toBe(1);
    expect(store.usage.useOf(b)).toBe(2);
    const third = await request(c);
    expect(third.status).toBe(403);
    expect(third.error!.message).toMatch(/count lteq 2 violated \(use number 3\)/);
    expect(state(c)).toBe('TERMINATED');
    // The two counted transfers keep their use.
    expect((await request(a, { headers: { range: 'bytes=10-19' } })).status).toBe(206);
    expect((await request(b, { headers: { range: 'bytes=10-19' } })).status).toBe(206);
    expect(store.usage.count(agreementId)).toBe(2);
  });

  it('simultaneous first GETs of a new transfer count one use', async () => {
    const agreementId = agreement(1);
    const a = transfer(agreementId);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => request(a, i % 2 ? { headers: { range: `bytes=${i * 100}-` } } : {})));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 206, 206, 206]);
    expect(store.usage.count(agreementId)).toBe(1);
    expect(store.db.prepare('SELECT count(*) AS n FROM usage_uses WHERE transfer_id = ?').get(a)).toEqual({ n: 1 });
    expect(decisions(a).filter((d) => d.counted)).toHaveLength(1);
    expect(state(a)).toBe('STARTED');
  });

  it('a HEAD never counts, before or after the use was counted, and is not refused for it', async () => {
    const agreementId = agreement(1);
    const a = transfer(agreementId);
    expect((await request(a, { method: 'HEAD' })).status).toBe(200);
    expect(store.usage.count(agreementId)).toBe(0);
    expect((await request(a)).status).toBe(200);
    expect((await request(a, { method: 'HEAD' })).status).toBe(200);
    expect(store.usage.count(agreementId)).toBe(1);
    expect(decisions(a).map((d) => [d.access, d.allowed, d.counted])).toEqual([
      ['HEAD', true, false],
      ['GET', true, true],
      ['HEAD', true, false],
    ]);
    // A transfer whose use would be refused is refused on HEAD too (decided as its first use), without counting.
    const b = transfer(agreementId);
    expect((await request(b, { method: 'HEAD' })).status).toBe(403);
    expect(store.usage.count(agreementId)).toBe(1);
  });

  it('still decides every request of a counted transfer: a revoked agreement or an ended transfer is refused', async () => {
    const agreementId = agreement(5);
    const a = transfer(agreementId);
    expect((await request(a)).status).toBe(200);
    store.agreements.setStatus(agreementId, 'provider', 'revoked', 'consent revoked');
    const refused = await request(a, { headers: { range: 'bytes=100-' } });
    expect(refused).toMatchObject({ status: 403, error: { code: 'AGREEMENT_NOT_ACTIVE' } });

    const other = agreement(5);
    const b = transfer(other);
    expect((await request(b)).status).toBe(200);
    store.transfers.update(b, { state: 'SUSPENDED' });
    expect(await request(b, { headers: { range: 'bytes=100-' } })).toMatchObject({ status: 403, error: { code: 'TRANSFER_NOT_STARTED' } });
    expect(store.usage.count(other)).toBe(1);
  });

  it('a push restarted for the same transfer is the same use; a push of another transfer is refused', async () => {
    const agreementId = agreement(1);
    // The target is refused by the address guard: every push fails after its decision, as an interrupted one would.
    const target = { endpoint: 'https://127.0.0.1:9/inbox' };
    const a = transfer(agreementId, 'HttpData-PUSH', target);
    await expect(dataPlane.push(store.transfers.get(a)!)).rejects.toThrow();
    await expect(dataPlane.push(store.transfers.get(a)!)).rejects.toThrow();
    expect(store.usage.count(agreementId)).toBe(1);
    expect(decisions(a).map((d) => [d.access, d.allowed, d.counted])).toEqual([
      ['PUSH', true, true],
      ['PUSH', true, false],
    ]);
    const b = transfer(agreementId, 'HttpData-PUSH', target);
    await expect(dataPlane.push(store.transfers.get(b)!)).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    expect(store.usage.count(agreementId)).toBe(1);
  });

  it('countUse claims a transfer once', () => {
    const agreementId = agreement(3);
    expect(store.usage.countUse(agreementId, 'urn:uuid:x1')).toBe(1);
    expect(store.usage.countUse(agreementId, 'urn:uuid:x1')).toBeNull();
    expect(store.usage.countUse(agreementId, 'urn:uuid:x2')).toBe(2);
    expect(store.usage.count(agreementId)).toBe(2);
    expect([store.usage.useOf('urn:uuid:x1'), store.usage.useOf('urn:uuid:x2'), store.usage.useOf('urn:uuid:x3')]).toEqual([1, 2, undefined]);
  });
});

describe('upgrading to schema version 8 (uses per transfer process)', () => {
  it('keeps the use of transfers still open that already read data, so resuming them does not count again', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-usage-upgrade-'));
    try {
      const old = Store.open(dir, { migrations: MIGRATIONS.filter((m) => m.version <= 7) });
      const audit = new AuditTrail({ store: old, self: () => SELF });
      const insert = (id: string, state: TransferState) =>
        old.transfers.insert({
          id, role: 'provider', providerPid: id, consumerPid: `${id}-c`, counterpartyId: PEER, counterpartyAddress: 'https://agro.example/cb', agreementId: 'urn:agreement',
          assetId: 'a1', format: 'HttpData-PULL', state, nextAction: null, dataAddress: null, dataStatus: null, bytes: null, sha256: null, error: null,
        });
      const decided = (id: string, access: string, allowed: boolean) =>
        audit.append({ processId: id, actor: PEER, event: 'policy.decision', detail: { scope: 'transfer', access, allowed, reason: 'r', trace: [] } });
      insert('urn:read', 'STARTED');
      decided('urn:read', 'GET', true);
      decided('urn:read', 'GET', true);
      insert('urn:suspended', 'SUSPENDED');
      decided('urn:suspended', 'GET', true);
      insert('urn:head-only', 'STARTED');
      decided('urn:head-only', 'HEAD', true);
      insert('urn:refused', 'STARTED');
      decided('urn:refused', 'GET', false);
      insert('urn:done', 'COMPLETED');
      decided('urn:done', 'GET', true);
      old.db.prepare("INSERT INTO usage_counts (agreement_id, count, last_at) VALUES ('urn:agreement', 4, '2026-01-01T00:00:00.000Z')").run();
      old.close();

      const store = Store.open(dir);
      try {
        expect(store.db.prepare('SELECT transfer_id, agreement_id, use_number FROM usage_uses ORDER BY transfer_id').all()).toEqual([
          { transfer_id: 'urn:read', agreement_id: 'urn:agreement', use_number: 4 },
          { transfer_id: 'urn:suspended', agreement_id: 'urn:agreement', use_number: 4 },
        ]);
        expect(store.usage.count('urn:agreement')).toBe(4);
        expect(store.usage.countUse('urn:agreement', 'urn:read')).toBeNull();
        expect(store.usage.countUse('urn:agreement', 'urn:head-only')).toBe(5);
      } finally {
        store.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
