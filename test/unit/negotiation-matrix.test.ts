import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store';
import { NegotiationService } from '../../src/negotiation/negotiation-service';
import { FactProvider } from '../../src/usage/facts';
import { CatalogService } from '../../src/catalog/catalog-service';
import { AddressGuard } from '../../src/net/address-guard';
import { silentLogger } from '../../src/log/logger';
import { InvalidTransitionError } from '../../src/protocol/dsp/errors';
import { dspErrorResponse } from '../../src/protocol/dsp/errors';
import { NEGOTIATION_STATES, type NegotiationState } from '../../src/statemachine/negotiation';
import type { Role } from '../../src/store/repositories/negotiations';

/**
 * The full transition matrix: every inbound message in every state, for both roles. The expected
 * outcome is written out here from the DSP 2025-1 state machine (not derived from our table), so a
 * wrong table entry fails this test.
 */
const CTX = ['https://w3id.org/dspace/2025/1/context.jsonld'];
const PEER = { participantId: 'urn:peer', scheme: 'test' };

type Inbound = { name: string; accepts: Record<NegotiationState, NegotiationState | 400> };
const S = (o: Partial<Record<NegotiationState, NegotiationState>>): Record<NegotiationState, NegotiationState | 400> =>
  Object.fromEntries(NEGOTIATION_STATES.map((s) => [s, o[s] ?? 400])) as Record<NegotiationState, NegotiationState | 400>;
const LIVE_TO_TERMINATED = S({ REQUESTED: 'TERMINATED', OFFERED: 'TERMINATED', ACCEPTED: 'TERMINATED', AGREED: 'TERMINATED', VERIFIED: 'TERMINATED' });

const PROVIDER_INBOUND: Inbound[] = [
  { name: 'counter ContractRequestMessage', accepts: S({ OFFERED: 'REQUESTED' }) },
  { name: 'ACCEPTED event', accepts: S({ OFFERED: 'ACCEPTED' }) },
  { name: 'FINALIZED event (consumer may not send it)', accepts: S({}) },
  { name: 'ContractAgreementVerificationMessage', accepts: S({ AGREED: 'VERIFIED' }) },
  { name: 'ContractNegotiationTerminationMessage', accepts: LIVE_TO_TERMINATED },
];
const CONSUMER_INBOUND: Inbound[] = [
  { name: 'ContractOfferMessage', accepts: S({ REQUESTED: 'OFFERED' }) },
  { name: 'ContractAgreementMessage', accepts: S({ REQUESTED: 'AGREED', ACCEPTED: 'AGREED' }) },
  { name: 'FINALIZED event', accepts: S({ VERIFIED: 'FINALIZED' }) },
  { name: 'ACCEPTED event (provider may not send it)', accepts: S({}) },
  { name: 'ContractNegotiationTerminationMessage', accepts: LIVE_TO_TERMINATED },
];

describe('negotiation transition matrix (7 states x inbound messages x 2 roles)', () => {
  let dir: string;
  let store: Store;
  let service: NegotiationService;
  let counter = 0;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-matrix-'));
    store = Store.open(dir);
    const catalog = new CatalogService({ store, participantId: () => 'urn:self', dspBaseUrl: () => 'https://self/dsp/2025-1', pageSize: 10 });
    service = new NegotiationService({
      store,
      catalog,
      facts: new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => false }),
      guard: new AddressGuard({ allow: [] }),
      self: () => ({ participantId: 'urn:self', dspBaseUrl: 'https://self/dsp/2025-1', callbackAddress: 'https://self/dsp/2025-1/callback' }),
      giveUpMs: 60_000,
      openProcessesPerPeer: 1000,
      kick: () => undefined,
      logger: silentLogger,
    });
  });
  afterAll(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function negotiationIn(role: Role, state: NegotiationState) {
    const own = `urn:uuid:00000000-0000-0000-0000-${String(++counter).padStart(12, '0')}`;
    const other = `urn:uuid:ffffffff-0000-0000-0000-${String(counter).padStart(12, '0')}`;
    return store.negotiations.insert({
      id: own,
      role,
      providerPid: role === 'provider' ? own : other,
      consumerPid: role === 'consumer' ? own : other,
      counterpartyId: PEER.participantId,
      counterpartyAddress: 'https://peer.example/dsp',
      counterpartyClaims: {},
      state,
      nextAction: null,
      assetId: 'a1',
      offerId: 'o:a1:x',
      offer: { '@id': 'o:a1:x', '@type': 'Offer', target: 'a1', permission: [{ action: 'use' }] },
      agreementId: null,
      error: null,
    });
  }

  function deliver(role: Role, name: string, n: { id: string; providerPid: string | null; consumerPid: string | null }) {
    const pids = { providerPid: n.providerPid, consumerPid: n.consumerPid };
    const offer = { '@type': 'Offer', '@id': 'o:a1:x', target: 'a1', permission: [{ action: 'use' }] };
    const msg = (type: string, extra: Record<string, unknown> = {}) => ({ '@context': CTX, '@type': type, ...pids, ...extra });
    if (role === 'provider') {
      if (name.startsWith('counter')) return service.receiveCounterRequest(PEER, n.id, msg('ContractRequestMessage', { offer }));
      if (name.startsWith('ACCEPTED')) return service.receiveConsumerEvent(PEER, n.id, msg('ContractNegotiationEventMessage', { eventType: 'ACCEPTED' }));
      if (name.startsWith('FINALIZED')) return service.receiveConsumerEvent(PEER, n.id, msg('ContractNegotiationEventMessage', { eventType: 'FINALIZED' }));
      if (name.startsWith('ContractAgreementVerification')) return service.receiveVerification(PEER, n.id, msg('ContractAgreementVerificationMessage'));
      return service.receiveTermination('provider', PEER, n.id, msg('ContractNegotiationTerminationMessage', { code: 'x' }));
    }
    if (name.startsWith('ContractOffer')) return service.receiveOffer(PEER, n.id, msg('ContractOfferMessage', { offer }));
    if (name.startsWith('ContractAgreementMessage')) {
      const agreement = { '@id': `urn:uuid:agreement-${n.id.slice(-12)}`, '@type': 'Agreement', target: 'a1', assigner: PEER.participantId, assignee: 'urn:self', timestamp: '2026-01-01T00:00:00Z', permission: [{ action: 'use' }] };
      return service.receiveAgreement(PEER, n.id, msg('ContractAgreementMessage', { agreement }));
    }
    if (name.startsWith('FINALIZED')) return service.receiveProviderEvent(PEER, n.id, msg('ContractNegotiationEventMessage', { eventType: 'FINALIZED' }));
    if (name.startsWith('ACCEPTED')) return service.receiveProviderEvent(PEER, n.id, msg('ContractNegotiationEventMessage', { eventType: 'ACCEPTED' }));
    return service.receiveTermination('consumer', PEER, n.id, msg('ContractNegotiationTerminationMessage', { code: 'x' }));
  }

  const cases = (role: Role, inbound: Inbound[]) =>
    inbound.flatMap((m) => NEGOTIATION_STATES.map((state) => [role, m.name, state, m.accepts[state]] as const));

  it.each([...cases('provider', PROVIDER_INBOUND), ...cases('consumer', CONSUMER_INBOUND)])('%s receives %s in %s -> %s', (role, name, state, expected) => {
    const n = negotiationIn(role, state);
    if (expected === 400) {
      let error: unknown;
      try {
        deliver(role, name, n);
      } catch (err) {
        error = err;
      }
      expect(error).toBeDefined();
      const { status, body } = dspErrorResponse('negotiation', error, {});
      expect(status).toBe(400);
      expect(body).toMatchObject({ '@type': 'ContractNegotiationError', providerPid: n.providerPid, consumerPid: n.consumerPid });
      expect(store.negotiations.get(n.id)!.state).toBe(state); // refused messages change nothing
      if (error instanceof InvalidTransitionError) expect(error.reasons[0]).toMatch(new RegExp(state));
    } else {
      expect(deliver(role, name, n).state).toBe(expected);
      expect(store.negotiations.get(n.id)!.state).toBe(expected);
    }
  });

  it('keeps at most 5 reasons of at most 500 characters from a termination (timeline and error)', () => {
    const n = negotiationIn('provider', 'REQUESTED');
    const reason = Array.from({ length: 100 }, (_, i) => `${i}:${'x'.repeat(10_000)}`);
    const msg = { '@context': CTX, '@type': 'ContractNegotiationTerminationMessage', providerPid: n.providerPid, consumerPid: n.consumerPid, code: 'c'.repeat(10_000), reason };
    expect(service.receiveTermination('provider', PEER, n.id, msg).state).toBe('TERMINATED');
    const received = store.processEvents.forProcess(n.id).find((e) => e.kind === 'received')!;
    const detail = received.detail as { code: string; reasons: string[] };
    expect(detail.reasons).toHaveLength(5);
    expect(detail.reasons.every((r) => r.length === 500)).toBe(true);
    expect(detail.code).toHaveLength(200);
    expect(store.negotiations.get(n.id)!.error!.length).toBeLessThanOrEqual(2000);
  });

  it('hides negotiations from other participants (404, not 400)', () => {
    const n = negotiationIn('provider', 'AGREED');
    expect(() => service.receiveVerification({ participantId: 'urn:intruder', scheme: 'test' }, n.id, { '@context': CTX, '@type': 'ContractAgreementVerificationMessage', providerPid: n.providerPid, consumerPid: n.consumerPid })).toThrow(
      expect.objectContaining({ httpStatus: 404 }),
    );
    expect(() => service.findForPeer('provider', n.id, { participantId: 'urn:intruder', scheme: 'test' })).toThrow(expect.objectContaining({ httpStatus: 404 }));
    expect(store.negotiations.get(n.id)!.state).toBe('AGREED');
  });

  it('rejects a message whose pids belong to another negotiation', () => {
    const n = negotiationIn('provider', 'AGREED');
    expect(() =>
      service.receiveVerification(PEER, n.id, { '@context': CTX, '@type': 'ContractAgreementVerificationMessage', providerPid: n.providerPid, consumerPid: 'urn:uuid:someone-else' }),
    ).toThrow(expect.objectContaining({ httpStatus: 400, code: 'PID_MISMATCH' }));
  });

  it('refuses an agreement whose @id we already hold (400 AGREEMENT_ID_CONFLICT, not a database error), changing nothing', () => {
    const agreement = { '@id': 'urn:uuid:agreement-reused', '@type': 'Agreement', target: 'a1', assigner: PEER.participantId, assignee: 'urn:self', timestamp: '2026-01-01T00:00:00Z', permission: [{ action: 'use' }] };
    const message = (n: { providerPid: string | null; consumerPid: string | null }) => ({ '@context': CTX, '@type': 'ContractAgreementMessage', providerPid: n.providerPid, consumerPid: n.consumerPid, agreement });
    const first = negotiationIn('consumer', 'REQUESTED');
    expect(service.receiveAgreement(PEER, first.id, message(first)).state).toBe('AGREED');

    const second = negotiationIn('consumer', 'REQUESTED');
    let error: unknown;
    try {
      service.receiveAgreement(PEER, second.id, message(second));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'AGREEMENT_ID_CONFLICT' });
    const { status, body } = dspErrorResponse('negotiation', error);
    expect(status).toBe(400);
    expect(body).toMatchObject({ '@type': 'ContractNegotiationError', code: 'AGREEMENT_ID_CONFLICT', providerPid: second.providerPid, consumerPid: second.consumerPid });
    expect(store.negotiations.get(second.id)).toMatchObject({ state: 'REQUESTED', agreementId: null, nextAction: null });
    expect(store.agreements.get(agreement['@id'], 'consumer')).toMatchObject({ negotiationId: first.id });
  });
});
