import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store';
import { CatalogService, catalogOfferId } from '../../src/catalog/catalog-service';
import { NegotiationService } from '../../src/negotiation/negotiation-service';
import { TransferService } from '../../src/transfer/transfer-service';
import { FactProvider } from '../../src/usage/facts';
import { AddressGuard } from '../../src/net/address-guard';
import { createLogger } from '../../src/log/logger';
import { QuotaExceededError } from '../../src/errors';
import { dspErrorResponse } from '../../src/protocol/dsp/errors';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import type { DspRouterDeps } from '../../src/protocol/dsp/router';
import { serveDspRouter } from '../helpers/dsp-router';
import { LIVE_NEGOTIATION_STATES, NEGOTIATION_STATES, type NegotiationState } from '../../src/statemachine/negotiation';
import { LIVE_TRANSFER_STATES, TRANSFER_STATES, type TransferState } from '../../src/statemachine/transfer';
import type { Role } from '../../src/store/repositories/negotiations';

/**
 * The per-peer quota on open processes (dsp.limits.openProcessesPerPeer): a peer's message that would
 * create one more negotiation or transfer than it may keep open is refused with 429 and a DSP error
 * body, before anything is stored; messages on existing processes and other peers are unaffected.
 */
const CTX = ['https://w3id.org/dspace/2025/1/context.jsonld'];
const LIMIT = 3;
const HOSTILE = { participantId: 'urn:hostile', scheme: 'test' };
const OTHER = { participantId: 'urn:other', scheme: 'test' };
const POLICY = { permission: [{ action: 'use' }] };

describe('open processes per peer (quota)', () => {
  let dir: string;
  let store: Store;
  let negotiations: NegotiationService;
  let transfers: TransferService;
  let logLines: Array<Record<string, unknown>>;
  let counter = 0;
  const offerId = catalogOfferId('o1', 'a1', POLICY);

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-quota-'));
    store = Store.open(dir);
    store.policies.insert({ id: 'open', title: null, policy: POLICY as never });
    store.assets.insert({ id: 'a1', title: 'a1', description: null, keywords: [], contentType: 'text/plain', originator: null, source: { type: 'file', path: 'a1.txt' } });
    store.offers.insert({ id: 'o1', accessPolicyId: 'open', contractPolicyId: 'open', assetIds: ['a1'] });
    const logger = createLogger({ level: 'debug', format: 'json', write: (line) => logLines.push(JSON.parse(line)) });
    const facts = new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => false });
    const self = () => ({ participantId: 'urn:self', dspBaseUrl: 'https://self/dsp/2025-1', callbackAddress: 'https://self/dsp/2025-1/callback' });
    const base = { store, guard: new AddressGuard({ allow: [] }), giveUpMs: 60_000, kick: () => undefined, logger, openProcessesPerPeer: LIMIT };
    negotiations = new NegotiationService({ ...base, facts, self, catalog: new CatalogService({ store, participantId: () => 'urn:self', dspBaseUrl: () => 'https://self/dsp/2025-1', pageSize: 10 }) });
    transfers = new TransferService({
      ...base,
      facts,
      self,
      dataPlane: () => ({ pullAddress: async () => ({}), push: async () => ({ bytes: 0, sha256: '' }), stopStreams: () => undefined }),
    });
  });
  afterAll(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    logLines = [];
    // Each test starts with no open processes: whatever earlier tests left is ended.
    store.db.exec("UPDATE negotiations SET state = 'TERMINATED', next_action = NULL; UPDATE transfers SET state = 'TERMINATED', next_action = NULL");
  });

  const pid = () => `urn:uuid:quota-${String(++counter).padStart(6, '0')}`;

  // ------------------------------------------------------------------ building blocks

  const contractRequest = (consumerPid = pid()) => ({
    '@context': CTX, '@type': 'ContractRequestMessage', consumerPid, callbackAddress: 'https://peer.example/cb',
    offer: { '@id': offerId, '@type': 'Offer', target: 'a1', ...POLICY },
  });
  const initialOffer = (providerPid = pid()) => ({
    '@context': CTX, '@type': 'ContractOfferMessage', providerPid, callbackAddress: 'https://peer.example/dsp',
    offer: { '@id': 'urn:offer:x', '@type': 'Offer', target: 'x', ...POLICY },
  });
  const transferRequest = (agreementId: string, consumerPid = pid()) => ({
    '@context': CTX, '@type': 'TransferRequestMessage', consumerPid, agreementId, format: 'HttpData-PULL', callbackAddress: 'https://peer.example/cb',
  });

  /** An active agreement with `peer` (its negotiation is FINALIZED: terminal, not counted). */
  const agreementWith = (peer: { participantId: string }) => {
    const id = pid();
    const negotiationId = pid();
    store.negotiations.insert({
      id: negotiationId, role: 'provider', providerPid: negotiationId, consumerPid: pid(), counterpartyId: peer.participantId, counterpartyAddress: 'https://peer.example/cb',
      counterpartyClaims: {}, state: 'FINALIZED', nextAction: null, assetId: 'a1', offerId, offer: null, agreementId: id, error: null,
    });
    const body = { '@id': id, '@type': 'Agreement', target: 'a1', assigner: 'urn:self', assignee: peer.participantId, timestamp: '2026-01-01T00:00:00Z', ...POLICY };
    store.agreements.insert({ id, negotiationId, role: 'provider', providerId: 'urn:self', consumerId: peer.participantId, assetId: 'a1', agreement: body, signedAt: body.timestamp, status: 'active' });
    return id;
  };

  const negotiationIn = (peer: { participantId: string }, role: Role, state: NegotiationState) => {
    const own = pid();
    return store.negotiations.insert({
      id: own, role, providerPid: role === 'provider' ? own : pid(), consumerPid: role === 'consumer' ? own : pid(), counterpartyId: peer.participantId,
      counterpartyAddress: 'https://peer.example/cb', counterpartyClaims: {}, state, nextAction: null, assetId: 'a1', offerId, offer: null, agreementId: null, error: null,
    });
  };
  const transferIn = (peer: { participantId: string }, role: Role, state: TransferState) => {
    const own = pid();
    return store.transfers.insert({
      id: own, role, providerPid: role === 'provider' ? own : pid(), consumerPid: role === 'consumer' ? own : pid(), counterpartyId: peer.participantId,
      counterpartyAddress: 'https://peer.example/cb', agreementId: 'urn:uuid:agreement', assetId: 'a1', format: 'HttpData-PULL', state, nextAction: null,
      dataAddress: null, dataStatus: null, bytes: null, sha256: null, error: null,
    });
  };

  /** Every table a created process writes to. */
  const rows = () =>
    Object.fromEntries(
      ['negotiations', 'transfers', 'agreements', 'process_events', 'outbox', 'audit_log'].map((t) => [t, store.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${t}`).get()!.n]),
    );

  /** The refusal: a QuotaExceededError that maps to 429 and a schema-valid DSP error body; nothing written. */
  const refused = (area: 'negotiation' | 'transfer', create: () => unknown, echoed: Record<string, string>) => {
    const before = rows();
    let error: unknown;
    try {
      create();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error).toMatchObject({ code: 'PEER_QUOTA_EXCEEDED', httpStatus: 429, details: { open: LIMIT, limit: LIMIT } });
    const { status, body } = dspErrorResponse(area, error, {});
    expect(status).toBe(429);
    const type = area === 'negotiation' ? 'ContractNegotiationError' : 'TransferError';
    expect(body).toMatchObject({ '@type': type, code: 'PEER_QUOTA_EXCEEDED', ...echoed, reason: [expect.stringMatching(/too many open processes.*limit 3/)] });
    const check = validateDspMessage(body, type);
    expect(check.ok ? [] : check.errors).toEqual([]);
    expect(rows()).toEqual(before);
    return error as QuotaExceededError;
  };

  // ------------------------------------------------------------------ the count

  it('counts the non-terminal negotiations and transfers of one peer, in both roles', () => {
    expect(store.negotiations.openWith(HOSTILE.participantId) + store.transfers.openWith(HOSTILE.participantId)).toBe(0);
    for (const state of NEGOTIATION_STATES) for (const role of ['provider', 'consumer'] as const) negotiationIn(HOSTILE, role, state);
    for (const state of TRANSFER_STATES) for (const role of ['provider', 'consumer'] as const) transferIn(HOSTILE, role, state);
    negotiationIn(OTHER, 'provider', 'REQUESTED');
    expect(store.negotiations.openWith(HOSTILE.participantId)).toBe(2 * LIVE_NEGOTIATION_STATES.length);
    expect(store.transfers.openWith(HOSTILE.participantId)).toBe(2 * LIVE_TRANSFER_STATES.length);
    expect(LIVE_NEGOTIATION_STATES).toEqual(['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED']);
    expect(LIVE_TRANSFER_STATES).toEqual(['REQUESTED', 'STARTED', 'SUSPENDED']);
    expect(store.negotiations.openWith(OTHER.participantId)).toBe(1);
  });

  it('counts from an index only (no table scan, however many ended processes a peer has)', () => {
    // The query of ProcessTable.openWith.
    for (const [table, live] of [['negotiations', LIVE_NEGOTIATION_STATES], ['transfers', LIVE_TRANSFER_STATES]] as const) {
      const plan = store.db
        .prepare<[string], { detail: string }>(`EXPLAIN QUERY PLAN SELECT count(*) AS n FROM ${table} WHERE counterparty_id = ? AND state IN (${live.map((s) => `'${s}'`).join(', ')})`)
        .all('urn:x')
        .map((r) => r.detail);
      expect(plan.join('\n')).toMatch(new RegExp(`USING COVERING INDEX ${table}_by_peer_state \\(counterparty_id=\\? AND state=\\?\\)`));
    }
  });

  // ------------------------------------------------------------------ negotiations

  it('refuses an initial ContractRequestMessage over the limit with 429, stores nothing, logs one warning', () => {
    for (let i = 0; i < LIMIT; i++) expect(negotiations.receiveInitialRequest(HOSTILE, contractRequest()).state).toBe('REQUESTED');
    logLines = [];
    const m = contractRequest();
    refused('negotiation', () => negotiations.receiveInitialRequest(HOSTILE, m), { consumerPid: m.consumerPid, providerPid: 'urn:hedgerow:unknown' });
    expect(store.negotiations.byPeerConsumerPid(HOSTILE.participantId, m.consumerPid)).toBeUndefined();
    expect(logLines).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/quota/), peer: HOSTILE.participantId, kind: 'contract negotiation', open: LIMIT, limit: LIMIT }),
    ]);
    expect(JSON.stringify(logLines)).not.toMatch(/offer|callback/i);
  });

  it('refuses a provider-initiated ContractOfferMessage over the limit (we are the consumer)', () => {
    for (let i = 0; i < LIMIT; i++) expect(negotiations.receiveInitialOffer(HOSTILE, initialOffer()).state).toBe('OFFERED');
    const m = initialOffer();
    refused('negotiation', () => negotiations.receiveInitialOffer(HOSTILE, m), { providerPid: m.providerPid, consumerPid: 'urn:hedgerow:unknown' });
    expect(logLines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('never refuses messages on existing processes, nor the repeat of a creating request; ended processes free their place', () => {
    const first = contractRequest();
    const created = negotiations.receiveInitialRequest(HOSTILE, first);
    for (let i = 1; i < LIMIT; i++) negotiations.receiveInitialRequest(HOSTILE, contractRequest());
    // A retried request whose response was lost is answered with the existing negotiation.
    expect(negotiations.receiveInitialRequest(HOSTILE, first).id).toBe(created.id);
    // The peer may still act on its open processes: here it terminates one.
    const ended = negotiations.receiveTermination('provider', HOSTILE, created.id, {
      '@context': CTX, '@type': 'ContractNegotiationTerminationMessage', providerPid: created.providerPid, consumerPid: created.consumerPid, code: 'bye',
    });
    expect(ended.state).toBe('TERMINATED');
    expect(logLines.filter((l) => l.level === 'warn')).toEqual([]);
    // Its place is free again; the next one is over the limit.
    expect(negotiations.receiveInitialRequest(HOSTILE, contractRequest()).state).toBe('REQUESTED');
    refused('negotiation', () => negotiations.receiveInitialRequest(HOSTILE, contractRequest()), {});
  });

  it('does not count terminal processes', () => {
    for (const state of ['FINALIZED', 'TERMINATED'] as const) for (let i = 0; i < LIMIT; i++) negotiationIn(HOSTILE, 'provider', state);
    for (const state of ['COMPLETED', 'TERMINATED'] as const) for (let i = 0; i < LIMIT; i++) transferIn(HOSTILE, 'provider', state);
    for (let i = 0; i < LIMIT; i++) expect(negotiations.receiveInitialRequest(HOSTILE, contractRequest()).state).toBe('REQUESTED');
    refused('negotiation', () => negotiations.receiveInitialRequest(HOSTILE, contractRequest()), {});
  });

  it('leaves other peers unaffected', () => {
    for (let i = 0; i < LIMIT; i++) negotiations.receiveInitialRequest(HOSTILE, contractRequest());
    refused('negotiation', () => negotiations.receiveInitialRequest(HOSTILE, contractRequest()), {});
    expect(negotiations.receiveInitialRequest(OTHER, contractRequest()).counterpartyId).toBe(OTHER.participantId);
    expect(transfers.receiveRequest(OTHER, transferRequest(agreementWith(OTHER))).state).toBe('REQUESTED');
  });

  // ------------------------------------------------------------------ transfers

  it('refuses a TransferRequestMessage over the limit, counting negotiations and transfers together', () => {
    const agreement = agreementWith(HOSTILE);
    negotiationIn(HOSTILE, 'provider', 'AGREED'); // open negotiations take places too
    transferIn(HOSTILE, 'consumer', 'STARTED'); // and processes we started with this peer
    expect(transfers.receiveRequest(HOSTILE, transferRequest(agreement)).state).toBe('REQUESTED');
    const m = transferRequest(agreement);
    refused('transfer', () => transfers.receiveRequest(HOSTILE, m), { consumerPid: m.consumerPid, providerPid: 'urn:hedgerow:unknown' });
    expect(store.transfers.byPeerConsumerPid(HOSTILE.participantId, m.consumerPid)).toBeUndefined();
    expect(logLines).toEqual([expect.objectContaining({ level: 'warn', peer: HOSTILE.participantId, kind: 'transfer process', open: LIMIT, limit: LIMIT })]);
  });

  it('a limit of 0 means no limit', () => {
    const unlimited = new TransferService({
      store, guard: new AddressGuard({ allow: [] }), giveUpMs: 60_000, kick: () => undefined, logger: createLogger({ level: 'error', write: () => undefined }), openProcessesPerPeer: 0,
      facts: new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => false }),
      self: () => ({ participantId: 'urn:self', dspBaseUrl: 'https://self/dsp/2025-1', callbackAddress: 'https://self/dsp/2025-1/callback' }),
      dataPlane: () => ({ pullAddress: async () => ({}), push: async () => ({ bytes: 0, sha256: '' }), stopStreams: () => undefined }),
    });
    const agreement = agreementWith(HOSTILE);
    for (let i = 0; i < LIMIT + 2; i++) expect(unlimited.receiveRequest(HOSTILE, transferRequest(agreement)).state).toBe('REQUESTED');
  });

  // ------------------------------------------------------------------ over HTTP (DSP router, signed peer stand-in)

  describe('over the DSP endpoints', () => {
    let served: Awaited<ReturnType<typeof serveDspRouter>>;
    let base: string;
    beforeAll(async () => {
      const deps = {
        participantId: () => 'urn:self',
        logger: createLogger({ level: 'debug', format: 'json', write: (line) => logLines.push(JSON.parse(line)) }),
        // Stand-in for the token verifier: the bearer value names the verified participant.
        verifier: { scheme: 'test', verify: async (h: string | undefined) => ({ participantId: h!.replace(/^Bearer /, ''), scheme: 'test' }) },
        negotiations,
        transfers,
        catalog: {},
        facts: {},
        publicUrl: () => 'https://self',
      } as unknown as DspRouterDeps;
      served = await serveDspRouter(deps);
      base = served.base;
    });
    afterAll(() => served.close());

    const post = async (peer: { participantId: string }, p: string, body: object) => {
      const res = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${peer.participantId}` }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    it('answers 429 with a ContractNegotiationError / TransferError, one warning per refusal, and 201 to other peers', async () => {
      const agreement = agreementWith(HOSTILE);
      for (let i = 0; i < LIMIT; i++) expect((await post(HOSTILE, '/negotiations/request', contractRequest())).status).toBe(201);
      // The follow-ups of those requests (agreements queued) run once their responses are out: let them finish first.
      for (const end = Date.now() + 5000; store.negotiations.pending().length && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
      expect(store.negotiations.pending()).toEqual([]);
      expect(store.negotiations.openWith(HOSTILE.participantId)).toBe(LIMIT);
      logLines = [];
      const before = rows();

      const m = contractRequest();
      const negotiation = await post(HOSTILE, '/negotiations/request', m);
      expect(negotiation.status).toBe(429);
      expect(negotiation.body).toMatchObject({ '@type': 'ContractNegotiationError', code: 'PEER_QUOTA_EXCEEDED', consumerPid: m.consumerPid });
      expect(validateDspMessage(negotiation.body, 'ContractNegotiationError').ok).toBe(true);

      const t = transferRequest(agreement);
      const transfer = await post(HOSTILE, '/transfers/request', t);
      expect(transfer.status).toBe(429);
      expect(transfer.body).toMatchObject({ '@type': 'TransferError', code: 'PEER_QUOTA_EXCEEDED', consumerPid: t.consumerPid });
      expect(validateDspMessage(transfer.body, 'TransferError').ok).toBe(true);

      const offer = await post(HOSTILE, '/negotiations/offers', initialOffer());
      expect(offer.status).toBe(429);
      expect(rows()).toEqual(before);
      expect(logLines.map((l) => `${l.level} ${l.kind}`)).toEqual(['warn contract negotiation', 'warn transfer process', 'warn contract negotiation']);
      expect(JSON.stringify(logLines)).not.toContain('Bearer');

      expect((await post(OTHER, '/negotiations/request', contractRequest())).status).toBe(201);
    });
  });
});
