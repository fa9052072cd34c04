import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store';
import { FactProvider } from '../../src/usage/facts';
import { PASS_BATCH, UsageControl } from '../../src/usage/usage-control';
import type { TransferService } from '../../src/transfer/transfer-service';

/**
 * A box back from a long power cut can find more due rows than one batch holds: the policy monitor and the
 * revocation of agreements whose consent ended go through all of them in one pass, in batches of PASS_BATCH
 * with a turn of the event loop between batches, and pass over a row that fails instead of stopping or
 * looping on it.
 */
const SELF = 'did:web:coop.example';
const PEER = 'did:web:agro.example';
const FARM = 'farm:FR-3561';
const MANY = 1201;

describe('usage control passes over more rows than one batch', () => {
  let dir: string;
  let store: Store;
  let usage: UsageControl;
  let terminated: string[];
  let failing: Set<string>;
  let errors: Array<{ message: string; meta: Record<string, unknown> }>;
  let counter = 0;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-usage-batches-'));
    store = Store.open(dir);
    store.assets.insert({ id: 'a1', title: 'yields', description: null, keywords: [], contentType: 'text/csv', originator: FARM, source: { type: 'file', path: 'yields.csv' } });
    terminated = [];
    failing = new Set();
    errors = [];
    // Ends a transfer as the transfer service would (its state), or fails for the transfers in `failing`.
    const transfers = {
      terminateForDataPlane: (id: string) => {
        if (failing.has(id)) throw new Error(`cannot end ${id}`);
        terminated.push(id);
        store.transfers.update(id, { state: 'TERMINATED' });
      },
    } as unknown as TransferService;
    usage = new UsageControl({
      store,
      facts: new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => true }),
      transfers,
      identity: { current: { participantId: SELF } } as never,
      peers: {} as never,
      anchors: () => [],
      giveUpMs: 60_000,
      kick: () => undefined,
      monitorSeconds: 3600,
      logger: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: (message: string, meta: Record<string, unknown>) => void errors.push({ message, meta }) } as never,
    });
  });
  afterEach(() => {
    usage.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const pid = () => `urn:uuid:batch-${String(++counter).padStart(6, '0')}`;

  function agreement(permission: Record<string, unknown>, consumerId = PEER): string {
    const id = pid();
    const negotiationId = pid();
    store.negotiations.insert({
      id: negotiationId, role: 'provider', providerPid: negotiationId, consumerPid: pid(), counterpartyId: consumerId, counterpartyAddress: 'https://agro.example/cb',
      counterpartyClaims: {}, state: 'FINALIZED', nextAction: null, assetId: 'a1', offerId: 'o1', offer: null, agreementId: id, error: null,
    });
    const body = { '@id': id, '@type': 'Agreement', target: 'a1', assigner: SELF, assignee: consumerId, timestamp: '2026-01-01T00:00:00Z', permission: [permission] };
    store.agreements.insert({ id, negotiationId, role: 'provider', providerId: SELF, consumerId, assetId: 'a1', agreement: body, signedAt: body.timestamp, status: 'active' });
    return id;
  }

  function started(agreementId: string): string {
    const id = pid();
    store.transfers.insert({
      id, role: 'provider', providerPid: id, consumerPid: pid(), counterpartyId: PEER, counterpartyAddress: 'https://agro.example/cb', agreementId, assetId: 'a1',
      format: 'HttpData-PULL', state: 'STARTED', nextAction: null, dataAddress: null, dataStatus: null, bytes: null, sha256: null, error: null,
    });
    return id;
  }

  const stateCounts = () =>
    Object.fromEntries(store.db.prepare<[], { state: string; n: number }>("SELECT state, count(*) AS n FROM transfers WHERE role = 'provider' GROUP BY state").all().map((r) => [r.state, r.n]));

  it(`the policy monitor ends all ${MANY} transfers whose window closed in one pass, yielding between batches`, async () => {
    const closed = agreement({ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-01-02T00:00:00Z' }] });
    const open = agreement({ action: 'use' });
    // Transfers that still hold are interleaved with the ones to end: a pass must move past them.
    const ids = store.transaction(() => Array.from({ length: MANY + 400 }, (_, i) => started(i % 4 === 3 && i < 1600 ? open : closed)));
    const toEnd = ids.filter((id) => store.transfers.get(id)!.agreementId === closed);
    expect(toEnd.length).toBe(MANY);

    let afterFirstBatch: number | undefined;
    setImmediate(() => (afterFirstBatch = terminated.length));
    const ended = await usage.monitor();

    expect(ended).toBe(MANY);
    expect(stateCounts()).toEqual({ TERMINATED: MANY, STARTED: 400 });
    expect(terminated.sort()).toEqual([...toEnd].sort());
    // The event loop had a turn after the first batch, before the rest was done.
    expect(afterFirstBatch).toBeGreaterThan(0);
    expect(afterFirstBatch).toBeLessThanOrEqual(PASS_BATCH);
  });

  it('the policy monitor passes over a transfer it cannot end (logged) and still finishes the pass', async () => {
    const closed = agreement({ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-01-02T00:00:00Z' }] });
    const ids = store.transaction(() => Array.from({ length: MANY }, () => started(closed)));
    for (const i of [0, 499, 500, 999, 1200]) failing.add(ids[i]!);

    expect(await usage.monitor()).toBe(MANY - failing.size);
    expect(stateCounts()).toEqual({ TERMINATED: MANY - failing.size, STARTED: failing.size });
    expect(errors.map((e) => e.meta.transfer).sort()).toEqual([...failing].sort());
    // The next pass tries them again.
    failing.clear();
    expect(await usage.monitor()).toBe(5);
  });

  it('a timer tick during a pass does not start a second pass', async () => {
    const closed = agreement({ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-01-02T00:00:00Z' }] });
    store.transaction(() => Array.from({ length: MANY }, () => started(closed)));
    const first = usage.monitor();
    expect(usage.monitor()).toBe(first);
    expect(await first).toBe(MANY);
    expect(terminated).toHaveLength(MANY);
  });

  it(`a consent that ended revokes all ${MANY} agreements that depend on it in one pass, and no other`, async () => {
    const needsConsent = (purpose: string) => ({ action: 'use', constraint: [{ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { leftOperand: 'purpose', operator: 'eq', rightOperand: purpose }] });
    const dependent: string[] = [];
    const unaffected: string[] = [];
    store.transaction(() => {
      for (let i = 0; i < MANY + 600; i++) {
        if (i % 3 === 1 && unaffected.length < 600) unaffected.push(agreement(needsConsent(i % 2 ? 'marketing' : 'research'), i % 2 ? PEER : 'did:web:other.example'));
        else dependent.push(agreement(needsConsent('agronomic-advice')));
      }
    });
    expect(dependent).toHaveLength(MANY);
    const live = started(dependent[MANY - 1]!);

    let afterFirstBatch: number | undefined;
    const revokedCount = () => store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM agreements WHERE status = 'revoked'").get()!.n;
    setImmediate(() => (afterFirstBatch = revokedCount()));
    const revoked = await usage.consentEnded({ id: 'c1', originator: FARM, beneficiary: PEER, purpose: 'agronomic-advice', status: 'expired' });

    expect(revoked).toBe(MANY);
    expect(dependent.every((id) => store.agreements.get(id, 'provider')!.status === 'revoked')).toBe(true);
    expect(unaffected.every((id) => store.agreements.get(id, 'provider')!.status === 'active')).toBe(true);
    expect(store.agreements.get(dependent[0]!, 'provider')!.statusReason).toBe('consent c1 of farm:FR-3561 for agronomic-advice was expired');
    expect(terminated).toEqual([live]);
    expect(afterFirstBatch).toBeGreaterThan(0);
    expect(afterFirstBatch).toBeLessThan(MANY);
  });

  it('revoking after a consent ended passes over an agreement it cannot revoke (logged)', async () => {
    const needsConsent = { action: 'use', constraint: [{ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }] };
    const ids = store.transaction(() => Array.from({ length: MANY }, () => agreement(needsConsent)));
    // The agreement's live transfer cannot be ended: its revocation is committed, the failure logged, the pass goes on.
    failing.add(started(ids[700]!));
    expect(await usage.consentEnded({ id: 'c2', originator: FARM, beneficiary: PEER, purpose: 'research', status: 'revoked' })).toBe(MANY - 1);
    expect(ids.filter((id) => store.agreements.get(id, 'provider')!.status === 'revoked')).toHaveLength(MANY);
    expect(errors).toEqual([expect.objectContaining({ meta: expect.objectContaining({ agreement: ids[700] }) })]);
  });
});
