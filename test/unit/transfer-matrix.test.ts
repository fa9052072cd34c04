import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store';
import { FactProvider } from '../../src/usage/facts';
import { TransferService } from '../../src/transfer/transfer-service';
import { AddressGuard } from '../../src/net/address-guard';
import { silentLogger } from '../../src/log/logger';
import { DspBadRequestError, InvalidTransitionError, dspErrorResponse } from '../../src/protocol/dsp/errors';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import { TRANSFER_STATES, type TransferState } from '../../src/statemachine/transfer';
import type { Role } from '../../src/store/repositories/negotiations';
import type { Transfer } from '../../src/store/repositories/transfers';

/**
 * The full transfer transition matrix: every inbound message in every state, for both roles, and
 * every operator action (outbound message) in every state. The expected outcomes are written out
 * here from the DSP 2025-1 transfer process state machine (transfer.process.protocol.md, "States"),
 * not derived from our tables, so a wrong table entry fails this test:
 *
 *   REQUESTED --start (P)--> STARTED           STARTED --completion (C/P)--> COMPLETED
 *   STARTED --suspension (C/P)--> SUSPENDED    SUSPENDED --start (C/P)--> STARTED
 *   REQUESTED|STARTED|SUSPENDED --termination (C/P)--> TERMINATED
 *   COMPLETED and TERMINATED are terminal; the consumer never starts a REQUESTED transfer.
 */
const CTX = ['https://w3id.org/dspace/2025/1/context.jsonld'];
const PEER = { participantId: 'urn:peer', scheme: 'test' };
const INTRUDER = { participantId: 'urn:intruder', scheme: 'test' };

type Outcome = TransferState | 400;
type Message = 'TransferStartMessage' | 'TransferCompletionMessage' | 'TransferSuspensionMessage' | 'TransferTerminationMessage';
type Row = { message: Message; accepts: Record<TransferState, Outcome> };

const S = (o: Partial<Record<TransferState, TransferState>>): Record<TransferState, Outcome> =>
  Object.fromEntries(TRANSFER_STATES.map((s) => [s, o[s] ?? 400])) as Record<TransferState, Outcome>;
const LIVE_TO_TERMINATED = S({ REQUESTED: 'TERMINATED', STARTED: 'TERMINATED', SUSPENDED: 'TERMINATED' });

/** What the provider accepts from the consumer. */
const PROVIDER_INBOUND: Row[] = [
  { message: 'TransferStartMessage', accepts: S({ SUSPENDED: 'STARTED' }) }, // resume only: the consumer never starts a REQUESTED transfer
  { message: 'TransferCompletionMessage', accepts: S({ STARTED: 'COMPLETED' }) },
  { message: 'TransferSuspensionMessage', accepts: S({ STARTED: 'SUSPENDED' }) },
  { message: 'TransferTerminationMessage', accepts: LIVE_TO_TERMINATED },
];
/** What the consumer accepts from the provider. */
const CONSUMER_INBOUND: Row[] = [
  { message: 'TransferStartMessage', accepts: S({ REQUESTED: 'STARTED', SUSPENDED: 'STARTED' }) },
  { message: 'TransferCompletionMessage', accepts: S({ STARTED: 'COMPLETED' }) },
  { message: 'TransferSuspensionMessage', accepts: S({ STARTED: 'SUSPENDED' }) },
  { message: 'TransferTerminationMessage', accepts: LIVE_TO_TERMINATED },
];

type Action = 'resume' | 'complete' | 'suspend' | 'terminate';
/** What each role may send (operator actions; `resume` sends TransferStartMessage). 409 = refused locally. */
const PROVIDER_OUTBOUND: Record<Action, Record<TransferState, TransferState | 409>> = {
  resume: { REQUESTED: 'STARTED', STARTED: 409, SUSPENDED: 'STARTED', COMPLETED: 409, TERMINATED: 409 },
  complete: { REQUESTED: 409, STARTED: 'COMPLETED', SUSPENDED: 409, COMPLETED: 409, TERMINATED: 409 },
  suspend: { REQUESTED: 409, STARTED: 'SUSPENDED', SUSPENDED: 409, COMPLETED: 409, TERMINATED: 409 },
  terminate: { REQUESTED: 'TERMINATED', STARTED: 'TERMINATED', SUSPENDED: 'TERMINATED', COMPLETED: 409, TERMINATED: 409 },
};
const CONSUMER_OUTBOUND: Record<Action, Record<TransferState, TransferState | 409>> = {
  resume: { REQUESTED: 409, STARTED: 409, SUSPENDED: 'STARTED', COMPLETED: 409, TERMINATED: 409 },
  complete: { REQUESTED: 409, STARTED: 'COMPLETED', SUSPENDED: 409, COMPLETED: 409, TERMINATED: 409 },
  suspend: { REQUESTED: 409, STARTED: 'SUSPENDED', SUSPENDED: 409, COMPLETED: 409, TERMINATED: 409 },
  terminate: { REQUESTED: 'TERMINATED', STARTED: 'TERMINATED', SUSPENDED: 'TERMINATED', COMPLETED: 409, TERMINATED: 409 },
};
const OUT_TYPE: Record<Action, Message> = {
  resume: 'TransferStartMessage',
  complete: 'TransferCompletionMessage',
  suspend: 'TransferSuspensionMessage',
  terminate: 'TransferTerminationMessage',
};

describe('transfer transition matrix (5 states x messages x 2 roles)', () => {
  let dir: string;
  let store: Store;
  let service: TransferService;
  let counter = 0;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-transfer-matrix-'));
    store = Store.open(dir);
    service = new TransferService({
      store,
      facts: new FactProvider({ store, groupsOf: () => [], consentCheck: () => () => false }),
      guard: new AddressGuard({ allow: [] }),
      giveUpMs: 60_000,
      openProcessesPerPeer: 1000,
      kick: () => undefined,
      logger: silentLogger,
      self: () => ({ participantId: 'urn:self', dspBaseUrl: 'https://self/dsp/2025-1', callbackAddress: 'https://self/dsp/2025-1/callback' }),
      dataPlane: () => ({
        pullAddress: async () => ({ '@type': 'DataAddress', endpointType: 'https://w3id.org/idsa/v4.1/HTTP', endpoint: 'https://self/data' }),
        push: async () => ({ bytes: 0, sha256: '' }),
        stopStreams: () => undefined,
      }),
    });
    store.assets.insert({ id: 'a1', title: 'a1', description: null, keywords: [], contentType: 'text/plain', originator: null, source: { type: 'file', path: 'a1.txt' } });
  });
  afterAll(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function transferIn(role: Role, state: TransferState, opts: { providerPid?: string | null } = {}): Transfer {
    const own = `urn:uuid:00000000-0000-0000-0000-${String(++counter).padStart(12, '0')}`;
    const other = `urn:uuid:ffffffff-0000-0000-0000-${String(counter).padStart(12, '0')}`;
    return store.transfers.insert({
      id: own,
      role,
      providerPid: role === 'provider' ? own : opts.providerPid === undefined ? other : opts.providerPid,
      consumerPid: role === 'consumer' ? own : other,
      counterpartyId: PEER.participantId,
      counterpartyAddress: 'https://peer.example/dsp',
      agreementId: 'urn:uuid:agreement',
      assetId: 'a1',
      format: 'HttpData-PULL',
      state,
      nextAction: null,
      dataAddress: null,
      dataStatus: null,
      bytes: null,
      sha256: null,
      error: null,
    });
  }

  const message = (type: Message, t: { providerPid: string | null; consumerPid: string | null }, extra: Record<string, unknown> = {}) => ({
    '@context': CTX,
    '@type': type,
    providerPid: t.providerPid,
    consumerPid: t.consumerPid,
    ...(type === 'TransferSuspensionMessage' || type === 'TransferTerminationMessage' ? { code: '1', reason: [{ message: 'peer says so' }] } : {}),
    ...extra,
  });

  function deliver(role: Role, type: Message, t: Transfer, peer = PEER, extra: Record<string, unknown> = {}) {
    const m = message(type, t, extra);
    if (type === 'TransferStartMessage') return service.receiveStart(role, peer, t.id, m);
    if (type === 'TransferCompletionMessage') return service.receiveCompletion(role, peer, t.id, m);
    if (type === 'TransferSuspensionMessage') return service.receiveSuspension(role, peer, t.id, m);
    return service.receiveTermination(role, peer, t.id, m);
  }

  const inboundCases = (role: Role, rows: Row[]) => rows.flatMap((r) => TRANSFER_STATES.map((state) => [role, r.message, state, r.accepts[state]] as const));

  it.each([...inboundCases('provider', PROVIDER_INBOUND), ...inboundCases('consumer', CONSUMER_INBOUND)])('%s receives %s in %s -> %s', (role, type, state, expected) => {
    const t = transferIn(role, state);
    const eventsBefore = store.processEvents.forProcess(t.id).length;
    if (expected === 400) {
      let error: unknown;
      try {
        deliver(role, type, t);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidTransitionError);
      const { status, body } = dspErrorResponse('transfer', error, {});
      expect(status).toBe(400);
      expect(body).toMatchObject({ '@type': 'TransferError', providerPid: t.providerPid, consumerPid: t.consumerPid });
      expect(validateDspMessage(body, 'TransferError').ok).toBe(true);
      expect((error as InvalidTransitionError).reasons[0]).toMatch(new RegExp(state));
      // Refused messages change nothing but are on the timeline.
      expect(store.transfers.get(t.id)!.state).toBe(state);
      expect(store.processEvents.forProcess(t.id).slice(eventsBefore)).toEqual([expect.objectContaining({ kind: 'received', messageType: type, toState: null })]);
      expect(store.outbox.forProcess(t.id)).toEqual([]);
    } else {
      const updated = deliver(role, type, t);
      expect(updated.state).toBe(expected);
      expect(store.transfers.get(t.id)!.state).toBe(expected);
      expect(store.processEvents.forProcess(t.id).slice(eventsBefore)).toEqual([expect.objectContaining({ kind: 'received', messageType: type, fromState: state, toState: expected })]);
      if (expected === 'TERMINATED') expect(store.transfers.get(t.id)!.error).toMatch(/terminated by urn:peer.*peer says so/);
    }
  });

  const outboundCases = (role: Role, table: typeof PROVIDER_OUTBOUND) =>
    (Object.keys(table) as Action[]).flatMap((action) => TRANSFER_STATES.map((state) => [role, action, state, table[action][state]] as const));

  it.each([...outboundCases('provider', PROVIDER_OUTBOUND), ...outboundCases('consumer', CONSUMER_OUTBOUND)])('%s operator action %s in %s -> %s', (role, action, state, expected) => {
    const t = transferIn(role, state);
    if (expected === 409) {
      expect(() => service.operatorAction(t.id, action, 'operator test')).toThrow(expect.objectContaining({ httpStatus: 409, code: 'INVALID_TRANSITION' }));
      expect(store.transfers.get(t.id)!.state).toBe(state);
      expect(store.outbox.forProcess(t.id)).toEqual([]);
      return;
    }
    expect(service.operatorAction(t.id, action, 'operator test').state).toBe(expected);
    const queued = store.outbox.forProcess(t.id);
    expect(queued.map((e) => e.messageType)).toEqual([OUT_TYPE[action]]);
    const peerPid = role === 'provider' ? t.consumerPid! : t.providerPid!;
    const suffix = { resume: 'start', complete: 'completion', suspend: 'suspension', terminate: 'termination' }[action];
    expect(queued[0]!.url).toBe(`https://peer.example/dsp/transfers/${encodeURIComponent(peerPid)}/${suffix}`);
    const check = validateDspMessage(queued[0]!.body, OUT_TYPE[action]);
    expect(check.ok ? [] : check.errors).toEqual([]);
    expect(queued[0]!.body).toMatchObject({ providerPid: t.providerPid, consumerPid: t.consumerPid });
    if (action === 'suspend' || action === 'terminate') expect(queued[0]!.body.reason).toEqual(['operator test']);
  });

  it('a consumer learns the provider pid from the first message when the answer to its request was lost', () => {
    const t = transferIn('consumer', 'REQUESTED', { providerPid: null });
    const updated = service.receiveStart('consumer', PEER, t.id, message('TransferStartMessage', { providerPid: 'urn:uuid:learnt', consumerPid: t.consumerPid }));
    expect(updated).toMatchObject({ state: 'STARTED', providerPid: 'urn:uuid:learnt' });
  });

  it('the consumer keeps the DataAddress of a start (pull endpoint and token)', () => {
    const t = transferIn('consumer', 'REQUESTED');
    const dataAddress = {
      '@type': 'DataAddress',
      endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
      endpoint: 'https://peer.example/data/x',
      endpointProperties: [
        { '@type': 'EndpointProperty', name: 'authorization', value: 'TOKEN' },
        { '@type': 'EndpointProperty', name: 'authType', value: 'bearer' },
      ],
    };
    deliver('consumer', 'TransferStartMessage', t, PEER, { dataAddress });
    expect(store.transfers.get(t.id)!.dataAddress).toEqual(dataAddress);
  });

  it('hides transfers from other participants (404, not 400) and changes nothing', () => {
    for (const role of ['provider', 'consumer'] as const) {
      const t = transferIn(role, 'STARTED');
      expect(() => deliver(role, 'TransferCompletionMessage', t, INTRUDER)).toThrow(expect.objectContaining({ httpStatus: 404 }));
      expect(() => service.findForPeer(role, t.id, INTRUDER)).toThrow(expect.objectContaining({ httpStatus: 404 }));
      // A provider's pid is not found among consumer-side transfers and vice versa.
      expect(() => service.findForPeer(role === 'provider' ? 'consumer' : 'provider', t.id, PEER)).toThrow(expect.objectContaining({ httpStatus: 404 }));
      expect(store.transfers.get(t.id)!.state).toBe('STARTED');
    }
  });

  it('rejects a message whose pids belong to another transfer (400 PID_MISMATCH)', () => {
    const t = transferIn('provider', 'STARTED');
    expect(() => service.receiveCompletion('provider', PEER, t.id, { '@context': CTX, '@type': 'TransferCompletionMessage', providerPid: t.providerPid, consumerPid: 'urn:uuid:someone-else' })).toThrow(
      expect.objectContaining({ httpStatus: 400, code: 'PID_MISMATCH' }),
    );
    expect(store.transfers.get(t.id)!.state).toBe('STARTED');
  });

  // ----------------------------------------------------------------- the creating message (provider)

  describe('TransferRequestMessage (no process yet -> REQUESTED, or 400 with the reason)', () => {
    let agreements = 0;
    const agreement = (opts: { consumerId?: string; status?: 'active' | 'pending' | 'revoked'; policy?: Record<string, unknown>; assetId?: string } = {}) => {
      const id = `urn:uuid:agreement-${++agreements}`;
      const body = { '@id': id, '@type': 'Agreement', target: opts.assetId ?? 'a1', assigner: 'urn:self', assignee: opts.consumerId ?? PEER.participantId, timestamp: '2026-01-01T00:00:00Z', ...(opts.policy ?? { permission: [{ action: 'use' }] }) };
      const negotiationId = `urn:uuid:negotiation-${agreements}`;
      store.negotiations.insert({
        id: negotiationId, role: 'provider', providerPid: negotiationId, consumerPid: `urn:uuid:c-negotiation-${agreements}`, counterpartyId: opts.consumerId ?? PEER.participantId,
        counterpartyAddress: 'https://peer.example/dsp', counterpartyClaims: {}, state: 'FINALIZED', nextAction: null, assetId: opts.assetId ?? 'a1', offerId: null, offer: null, agreementId: id, error: null,
      });
      store.agreements.insert({ id, negotiationId, role: 'provider', providerId: 'urn:self', consumerId: opts.consumerId ?? PEER.participantId, assetId: opts.assetId ?? 'a1', agreement: body, signedAt: body.timestamp, status: opts.status ?? 'active' });
      if (opts.status === 'revoked') store.agreements.setStatus(id, 'provider', 'revoked', 'licence withdrawn');
      return id;
    };
    const requestFor = (agreementId: string, extra: Record<string, unknown> = {}) => ({
      '@context': CTX, '@type': 'TransferRequestMessage', consumerPid: `urn:uuid:c-${++counter}`, agreementId, format: 'HttpData-PULL', callbackAddress: 'https://peer.example/cb', ...extra,
    });
    const refused = (m: Record<string, unknown>, peer = PEER): DspBadRequestError => {
      try {
        service.receiveRequest(peer, m);
      } catch (err) {
        expect(err).toBeInstanceOf(DspBadRequestError);
        const { status, body } = dspErrorResponse('transfer', err, {});
        expect(status).toBe(400);
        expect(body).toMatchObject({ '@type': 'TransferError', consumerPid: m.consumerPid });
        expect(validateDspMessage(body, 'TransferError').ok).toBe(true);
        expect(store.transfers.byPeerConsumerPid(peer.participantId, m.consumerPid as string)).toBeUndefined();
        return err as DspBadRequestError;
      }
      throw new Error('request was accepted');
    };

    it('creates a REQUESTED transfer, and the default rule owes a start', () => {
      const m = requestFor(agreement());
      const t = service.receiveRequest(PEER, m);
      expect(t).toMatchObject({ role: 'provider', state: 'REQUESTED', consumerPid: m.consumerPid, counterpartyAddress: 'https://peer.example/cb' });
      expect(JSON.parse(t.nextAction!)).toEqual([{ message: 'TransferStartMessage' }]);
    });

    it('is idempotent per consumer and consumerPid', () => {
      const m = requestFor(agreement());
      const first = service.receiveRequest(PEER, m);
      expect(service.receiveRequest(PEER, m).providerPid).toBe(first.providerPid);
    });

    it.each([
      ['an unknown agreement', () => requestFor('urn:uuid:nope'), 'UNKNOWN_AGREEMENT', /not an agreement between urn:peer and this connector/],
      ["another participant's agreement", () => requestFor(agreement({ consumerId: 'urn:someone-else' })), 'UNKNOWN_AGREEMENT', /not an agreement between urn:peer/],
      ['an agreement not yet finalized', () => requestFor(agreement({ status: 'pending' })), 'AGREEMENT_NOT_ACTIVE', /not finalized/],
      ['a revoked agreement', () => requestFor(agreement({ status: 'revoked' })), 'AGREEMENT_NOT_ACTIVE', /revoked \(licence withdrawn\)/],
      [
        'an agreement whose policy no longer allows a transfer',
        () => requestFor(agreement({ policy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lt', rightOperand: '2020-01-01T00:00:00Z' }] }] } })),
        'POLICY_DENIED',
        /dateTime/,
      ],
      ['an agreement whose dataset is gone', () => requestFor(agreement({ assetId: 'gone' })), 'ASSET_GONE', /no longer available/],
      ['an unsupported format', () => requestFor(agreement(), { format: 'Ftp-PULL' }), 'FORMAT_UNSUPPORTED', /format Ftp-PULL is not offered/],
      ['a push without dataAddress', () => requestFor(agreement(), { format: 'HttpData-PUSH' }), 'DATA_ADDRESS_MISSING', /needs a dataAddress/],
      ['a callback on a link-local address', () => requestFor(agreement(), { callbackAddress: 'https://169.254.169.254/x' }), 'ADDRESS_REFUSED', /169\.254\.169\.254/],
    ])('refuses %s', (_what, build, code, reason) => {
      const err = refused(build());
      expect(err.code).toBe(code);
      expect(err.reasons.join(' ')).toMatch(reason);
    });
  });
});
