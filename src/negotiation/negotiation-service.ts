import type { Store } from '../store/store';
import type { Negotiation, NegotiationPatch, Role } from '../store/repositories/negotiations';
import type { OutboxEntry } from '../store/repositories/outbox';
import type { Logger } from '../log/logger';
import type { VerifiedPeer } from '../identity/peer-token';
import type { AddressGuard } from '../net/address-guard';
import type { CatalogService } from '../catalog/catalog-service';
import type { DspResponse } from '../protocol/dsp/client';
import { CONSUMER_NEGOTIATION, PROVIDER_NEGOTIATION, type NegotiationMessage, type NegotiationState } from '../statemachine/negotiation';
import { checkTransition } from '../statemachine/table';
import { DspBadRequestError, InvalidTransitionError, UnknownProcessError } from '../protocol/dsp/errors';
import { joinUrl } from '../protocol/dsp/client';
import { validateDspMessage } from '../protocol/dsp/schema-validator';
import {
  agreementVerificationMessage,
  contractAgreementMessage,
  contractOfferMessage,
  contractRequestMessage,
  negotiationAck,
  negotiationEventMessage,
  negotiationTerminationMessage,
  newPid,
  policyRules,
  sameRules,
} from '../protocol/dsp/messages';
import { evaluate, type PolicyFacts } from '../policy';
import { ConflictError, HedgerowError, NotFoundError } from '../errors';
import { terminate, type DecisionScript, type Intent, type Trigger } from './decisions';

type Json = Record<string, unknown>;

export interface Self {
  participantId: string;
  /** Our DSP base URL (provider endpoints). */
  dspBaseUrl: string;
  /** Where providers reach our consumer endpoints. */
  callbackAddress: string;
}

export interface NegotiationServiceDeps {
  store: Store;
  catalog: CatalogService;
  guard: AddressGuard;
  self: () => Self;
  /** How long undeliverable messages are retried before the process is given up. */
  giveUpMs: number;
  /** Wake the outbox dispatcher. */
  kick: () => void;
  logger: Logger;
  script?: DecisionScript;
}

const machineFor = (role: Role) => (role === 'provider' ? PROVIDER_NEGOTIATION : CONSUMER_NEGOTIATION);
const pidsOf = (n: Negotiation) => ({ providerPid: n.providerPid, consumerPid: n.consumerPid });

/** Verified facts about the counterparty for policy evaluation: never taken from a message body. */
export function peerFacts(participantId: string, claims: Record<string, string>, now = new Date()): PolicyFacts {
  return { participantId, organization: claims.organization, country: claims.country, now } as PolicyFacts;
}

export function claimsOf(peer: VerifiedPeer): Record<string, string> {
  const claims: Record<string, string> = {};
  if (peer.organization) claims.organization = peer.organization;
  if (peer.country) claims.country = peer.country;
  return claims;
}

/**
 * Contract negotiation in both roles: inbound DSP messages (validated by the routes), the messages we
 * owe the peer (intents, executed through the durable outbox) and outbox outcomes. Every change of
 * state happens in one SQLite transaction together with its timeline entries and outbox rows.
 */
export class NegotiationService {
  constructor(private readonly deps: NegotiationServiceDeps) {}

  private get store() {
    return this.deps.store;
  }

  // ---------------------------------------------------------------- reading

  /** A negotiation as the counterparty may see it: unknown and foreign look alike (404). */
  findForPeer(role: Role, pid: string, peer: VerifiedPeer): Negotiation {
    const n = this.store.negotiations.own(role, pid);
    if (!n || n.counterpartyId !== peer.participantId) throw new UnknownProcessError('contract negotiation');
    return n;
  }

  ack(n: Negotiation): Json {
    return negotiationAck(n);
  }

  // ---------------------------------------------------------------- provider: inbound

  /** Initial ContractRequestMessage: creates the negotiation (201). Idempotent per consumer and consumerPid. */
  receiveInitialRequest(peer: VerifiedPeer, msg: Json): Negotiation {
    if (msg.providerPid !== undefined) {
      throw new DspBadRequestError('WRONG_ENDPOINT', ['a counter-request (with providerPid) must be sent to /negotiations/:providerPid/request'], { consumerPid: msg.consumerPid as string, providerPid: msg.providerPid as string });
    }
    const consumerPid = msg.consumerPid as string;
    const offer = msg.offer as Json;
    const existing = this.store.negotiations.byPeerConsumerPid(peer.participantId, consumerPid);
    if (existing) return existing; // a retried request whose response was lost
    const callbackAddress = this.checkAddress(msg.callbackAddress as string, 'callbackAddress', { consumerPid });
    const claims = claimsOf(peer);
    const resolved = this.deps.catalog.resolveOffer(peerFacts(peer.participantId, claims), offer['@id'] as string, offer.target as string | undefined);
    return this.store.transaction(() => {
      const providerPid = newPid();
      const n = this.store.negotiations.insert({
        id: providerPid,
        role: 'provider',
        providerPid,
        consumerPid,
        counterpartyId: peer.participantId,
        counterpartyAddress: callbackAddress,
        counterpartyClaims: claims,
        state: 'REQUESTED',
        nextAction: null,
        assetId: resolved.asset.id,
        offerId: resolved.offerId,
        offer,
        agreementId: null,
        error: null,
      });
      this.event(n.id, 'received', 'ContractRequestMessage', null, 'REQUESTED', { offer: offer['@id'] });
      return this.plan(n, 'requested', msg);
    });
  }

  receiveCounterRequest(peer: VerifiedPeer, providerPid: string, msg: Json): Negotiation {
    if (msg.callbackAddress !== undefined) {
      throw new DspBadRequestError('WRONG_ENDPOINT', ['an initial request (with callbackAddress) must be sent to /negotiations/request'], { providerPid });
    }
    return this.receive('provider', peer, providerPid, 'ContractCounterRequestMessage', msg, () => ({ offer: msg.offer as Json }), 'counter-requested');
  }

  receiveConsumerEvent(peer: VerifiedPeer, providerPid: string, msg: Json): Negotiation {
    if (msg.eventType !== 'ACCEPTED') {
      const n = this.findForPeer('provider', providerPid, peer);
      throw new DspBadRequestError('INVALID_EVENT', [`a consumer may only send the ACCEPTED event, not ${String(msg.eventType)}`], pidsOf(n));
    }
    return this.receive('provider', peer, providerPid, 'AcceptedEvent', msg, () => ({}), 'accepted');
  }

  receiveVerification(peer: VerifiedPeer, providerPid: string, msg: Json): Negotiation {
    return this.receive('provider', peer, providerPid, 'ContractAgreementVerificationMessage', msg, () => ({}), 'verified');
  }

  // ---------------------------------------------------------------- consumer: inbound

  /** Provider-initiated negotiation (POST /negotiations/offers): the operator decides unless a script does. */
  receiveInitialOffer(peer: VerifiedPeer, msg: Json): Negotiation {
    if (msg.consumerPid !== undefined) {
      throw new DspBadRequestError('WRONG_ENDPOINT', ['a counter-offer (with consumerPid) must be sent to the callback /negotiations/:consumerPid/offers'], { providerPid: msg.providerPid as string, consumerPid: msg.consumerPid as string });
    }
    const providerAddress = this.checkAddress(msg.callbackAddress as string, 'callbackAddress', { providerPid: msg.providerPid as string });
    const offer = msg.offer as Json;
    return this.store.transaction(() => {
      const consumerPid = newPid();
      const n = this.store.negotiations.insert({
        id: consumerPid,
        role: 'consumer',
        providerPid: msg.providerPid as string,
        consumerPid,
        counterpartyId: peer.participantId,
        counterpartyAddress: providerAddress,
        counterpartyClaims: claimsOf(peer),
        state: 'OFFERED',
        nextAction: null,
        assetId: (offer.target as string) ?? null,
        offerId: offer['@id'] as string,
        offer,
        agreementId: null,
        error: null,
      });
      this.event(n.id, 'received', 'ContractOfferMessage', null, 'OFFERED', { offer: offer['@id'] });
      return this.plan(n, 'initial-offer', msg);
    });
  }

  receiveOffer(peer: VerifiedPeer, consumerPid: string, msg: Json): Negotiation {
    // The provider's counter-offer is kept in the timeline; n.offer stays what we asked for.
    return this.receive('consumer', peer, consumerPid, 'ContractOfferMessage', msg, () => ({}), 'offered');
  }

  receiveAgreement(peer: VerifiedPeer, consumerPid: string, msg: Json): Negotiation {
    const agreement = msg.agreement as Json;
    return this.receive('consumer', peer, consumerPid, 'ContractAgreementMessage', msg, (n) => {
      this.store.agreements.insert({
        id: agreement['@id'] as string,
        negotiationId: n.id,
        role: 'consumer',
        providerId: n.counterpartyId,
        consumerId: this.deps.self().participantId,
        assetId: (agreement.target as string) ?? n.assetId ?? '',
        agreement,
        signedAt: (agreement.timestamp as string) ?? new Date().toISOString(),
        status: 'pending',
      });
      return { agreementId: agreement['@id'] as string };
    }, 'agreed');
  }

  receiveProviderEvent(peer: VerifiedPeer, consumerPid: string, msg: Json): Negotiation {
    if (msg.eventType !== 'FINALIZED') {
      const n = this.findForPeer('consumer', consumerPid, peer);
      throw new DspBadRequestError('INVALID_EVENT', [`a provider may only send the FINALIZED event, not ${String(msg.eventType)}`], pidsOf(n));
    }
    return this.receive('consumer', peer, consumerPid, 'FinalizedEvent', msg, (n) => {
      if (n.agreementId) this.store.agreements.setStatus(n.agreementId, 'consumer', 'active');
      return {};
    }, 'finalized');
  }

  // ---------------------------------------------------------------- both roles: inbound

  receiveTermination(role: Role, peer: VerifiedPeer, pid: string, msg: Json): Negotiation {
    return this.receive(role, peer, pid, 'ContractNegotiationTerminationMessage', msg, (n) => this.ended(n, `terminated by ${peer.participantId}`, msg, true), undefined);
  }

  /**
   * The common path of every message on an existing negotiation: find it for this peer, check the
   * pids and the transition table, apply, record, plan the follow-up. One transaction.
   */
  private receive(
    role: Role,
    peer: VerifiedPeer,
    pid: string,
    message: NegotiationMessage,
    msg: Json,
    apply: (n: Negotiation) => NegotiationPatch,
    trigger: Trigger | undefined,
  ): Negotiation {
    return this.store.transaction(() => {
      const n = this.findForPeer(role, pid, peer);
      this.checkPids(n, msg);
      const check = checkTransition(machineFor(role), n.state, message, 'in');
      if (!check.ok) {
        this.event(n.id, 'received', message, n.state, null, { rejected: check.reason });
        throw new InvalidTransitionError(check.reason, pidsOf(n));
      }
      const patch: NegotiationPatch = { ...apply(n), state: check.to };
      if (role === 'consumer' && !n.providerPid) patch.providerPid = msg.providerPid as string;
      const updated = this.store.negotiations.update(n.id, patch);
      this.event(n.id, 'received', message, n.state, check.to, messageDetail(msg));
      return trigger ? this.plan(updated, trigger, msg) : updated;
    });
  }

  /** Both pids in a message must be this negotiation's (the counterparty's may be learnt now). */
  private checkPids(n: Negotiation, msg: Json): void {
    const mismatch = (field: 'providerPid' | 'consumerPid') => msg[field] !== undefined && n[field] !== null && msg[field] !== n[field];
    if (mismatch('providerPid') || mismatch('consumerPid')) {
      throw new DspBadRequestError('PID_MISMATCH', ['providerPid/consumerPid do not belong to this negotiation'], pidsOf(n));
    }
  }

  /**
   * Terminal bookkeeping: nothing more is owed, a pending agreement is void. Undelivered messages are
   * dropped when the peer ended the process (it will not listen); our own termination instead queues
   * behind them, so the peer still receives everything in order.
   */
  private ended(n: Negotiation, why: string, msg: Json | undefined, dropOutbox: boolean): NegotiationPatch {
    if (dropOutbox) this.store.outbox.dropProcess(n.id);
    if (n.agreementId) {
      const a = this.store.agreements.get(n.agreementId, n.role);
      if (a && a.status !== 'active') this.store.agreements.setStatus(n.agreementId, n.role, 'revoked', why);
    }
    const reasons = msg && Array.isArray(msg.reason) ? (msg.reason as unknown[]).map((r) => (typeof r === 'string' ? r : JSON.stringify(r))) : [];
    return { nextAction: null, error: [why, ...reasons].join(': ').slice(0, 2000) };
  }

  // ---------------------------------------------------------------- decisions

  /** Decide what we owe after `trigger` (script first, then the real rules) and persist it. */
  private plan(n: Negotiation, trigger: Trigger, incoming?: Json): Negotiation {
    const intents = this.deps.script?.decide(trigger, n, incoming) ?? this.defaultDecision(trigger, n, incoming);
    if (intents.length === 0) return n;
    return this.store.negotiations.update(n.id, { nextAction: JSON.stringify(intents) });
  }

  private defaultDecision(trigger: Trigger, n: Negotiation, incoming?: Json): Intent[] {
    switch (trigger) {
      case 'requested':
      case 'counter-requested':
      case 'accepted':
        return [this.providerVerdict(n)];
      case 'verified':
        return [{ message: 'FinalizedEvent' }];
      case 'offered': {
        const offer = incoming?.offer as Json | undefined;
        if (offer && n.offer && sameRules(offer, n.offer) && (offer.target ?? n.assetId) === (n.offer.target ?? n.assetId)) {
          return [{ message: 'AcceptedEvent' }];
        }
        return [terminate('COUNTER_OFFER_REJECTED', ['the counter-offer differs from the offer we requested'])];
      }
      case 'agreed':
        return [this.consumerVerdict(n, incoming?.agreement as Json)];
      case 'initial-offer':
      case 'sent-request':
      case 'finalized':
        return [];
    }
  }

  /** Provider: agree when the request is for the published offer and the contract policy allows it. */
  private providerVerdict(n: Negotiation): Intent {
    const facts = peerFacts(n.counterpartyId, n.counterpartyClaims);
    let resolved;
    try {
      resolved = this.deps.catalog.resolveOffer(facts, n.offerId ?? '', n.assetId ?? undefined);
    } catch (err) {
      return terminate('OFFER_UNAVAILABLE', [(err as Error).message]);
    }
    if (n.offer && !sameRules(n.offer, resolved.offer)) {
      return terminate('COUNTER_OFFER_REJECTED', ['only the published offer can be agreed; counter-offers are declined']);
    }
    const decision = evaluate(resolved.contractPolicy as never, { scope: 'negotiation', facts });
    this.event(n.id, 'decision', null, n.state, null, { scope: 'negotiation', allowed: decision.allowed, reason: decision.reason, trace: decision.trace });
    if (!decision.allowed) return terminate('POLICY_DENIED', [decision.reason]);
    return { message: 'ContractAgreementMessage' };
  }

  /** Consumer: verify only an agreement that matches what we asked for, between the right parties. */
  private consumerVerdict(n: Negotiation, agreement: Json | undefined): Intent {
    const problems: string[] = [];
    const self = this.deps.self().participantId;
    if (!agreement) problems.push('no agreement');
    else {
      if (agreement.assigner !== n.counterpartyId) problems.push(`assigner ${String(agreement.assigner)} is not the provider ${n.counterpartyId}`);
      if (agreement.assignee !== self) problems.push(`assignee ${String(agreement.assignee)} is not us (${self})`);
      const target = n.offer?.target ?? n.assetId;
      if (target && agreement.target !== target) problems.push(`target ${String(agreement.target)} is not the requested dataset ${String(target)}`);
      if (n.offer && !sameRules(agreement, n.offer)) problems.push('the agreed rules differ from the offer we requested');
    }
    if (problems.length) {
      this.event(n.id, 'decision', null, n.state, null, { allowed: false, reason: problems.join('; ') });
      return terminate('AGREEMENT_MISMATCH', problems);
    }
    return { message: 'ContractAgreementVerificationMessage' };
  }

  // ---------------------------------------------------------------- outbound

  /** Execute every owed intent (after a response went out, and at start-up). */
  runPending(id?: string): void {
    const pending = id ? [this.store.negotiations.get(id)].filter((n): n is Negotiation => !!n?.nextAction) : this.store.negotiations.pending();
    for (const n of pending) {
      try {
        this.store.transaction(() => this.execute(n.id));
      } catch (err) {
        this.deps.logger.error('negotiation follow-up failed', { negotiation: n.id, error: (err as Error).message });
      }
    }
    this.deps.kick();
  }

  private execute(id: string): void {
    const n = this.store.negotiations.get(id);
    if (!n?.nextAction) return;
    const intents = JSON.parse(n.nextAction) as Intent[];
    this.store.negotiations.update(n.id, { nextAction: null });
    let current = this.store.negotiations.get(id)!;
    for (const intent of intents) {
      const sent = this.send(current, intent);
      if (!sent) break;
      current = sent;
    }
  }

  /** Check the table, move the state, enqueue the message. Returns null when the state no longer allows it. */
  private send(n: Negotiation, intent: Intent): Negotiation | null {
    const check = checkTransition(machineFor(n.role), n.state, intent.message, 'out');
    if (!check.ok) {
      this.event(n.id, 'note', intent.message, n.state, null, { skipped: check.reason });
      return null;
    }
    const { url, body, patch } = this.outboundMessage(n, intent);
    const extra = check.to === 'TERMINATED' ? this.ended(n, `terminated by us: ${intent.code ?? ''}`.trim(), body, false) : {};
    const updated = this.store.negotiations.update(n.id, { ...patch, ...extra, nextAction: null, state: check.to });
    this.store.outbox.enqueue({
      processId: n.id,
      messageType: intent.message,
      url,
      audience: n.counterpartyId,
      body,
      giveUpAt: Date.now() + this.deps.giveUpMs,
    });
    this.event(n.id, 'transition', intent.message, n.state, check.to, intent.reasons ? { code: intent.code, reasons: intent.reasons } : undefined);
    return updated;
  }

  /** The URL and body of an outbound message (pid placeholders are filled at send time, see prepare). */
  private outboundMessage(n: Negotiation, intent: Intent): { url: string; body: Json; patch: NegotiationPatch } {
    const providerPid = n.providerPid ?? PENDING_PROVIDER_PID;
    const consumerPid = n.consumerPid!;
    const base = n.counterpartyAddress!;
    const toConsumer = (suffix: string) => joinUrl(base, `/negotiations/${encodeURIComponent(consumerPid)}/${suffix}`);
    const toProvider = (suffix: string) => joinUrl(base, `/negotiations/${n.providerPid ? encodeURIComponent(providerPid) : PENDING_PROVIDER_PID}/${suffix}`);
    const pids = { providerPid, consumerPid };
    switch (intent.message) {
      case 'ContractAgreementMessage': {
        const agreement = this.buildAgreement(n);
        return { url: toConsumer('agreement'), body: contractAgreementMessage({ ...pids, agreement }), patch: { agreementId: agreement['@id'] as string } };
      }
      case 'FinalizedEvent':
        if (n.agreementId) this.store.agreements.setStatus(n.agreementId, 'provider', 'active');
        return { url: toConsumer('events'), body: negotiationEventMessage({ ...pids, eventType: 'FINALIZED' }), patch: {} };
      case 'ContractOfferMessage': {
        const offer = intent.offer ?? { ...n.offer, target: n.assetId };
        return { url: toConsumer('offers'), body: contractOfferMessage({ ...pids, offer }), patch: { offer } };
      }
      case 'AcceptedEvent':
        return { url: toProvider('events'), body: negotiationEventMessage({ ...pids, eventType: 'ACCEPTED' }), patch: {} };
      case 'ContractAgreementVerificationMessage':
        return { url: toProvider('agreement/verification'), body: agreementVerificationMessage(pids), patch: {} };
      case 'ContractCounterRequestMessage': {
        const offer = intent.offer ?? n.offer!;
        return { url: toProvider('request'), body: contractRequestMessage({ consumerPid, providerPid, offer }), patch: { offer } };
      }
      case 'ContractNegotiationTerminationMessage': {
        const url = n.role === 'provider' ? toConsumer('termination') : toProvider('termination');
        return { url, body: negotiationTerminationMessage({ ...pids, code: intent.code ?? 'TERMINATED', reasons: intent.reasons ?? [] }), patch: {} };
      }
    }
  }

  private buildAgreement(n: Negotiation): Json {
    const self = this.deps.self().participantId;
    const resolved = this.deps.catalog.resolveOffer(peerFacts(n.counterpartyId, n.counterpartyClaims), n.offerId ?? '', n.assetId ?? undefined);
    const agreement: Json = {
      '@id': newPid(),
      '@type': 'Agreement',
      target: resolved.asset.id,
      assigner: self,
      assignee: n.counterpartyId,
      timestamp: new Date().toISOString(),
      ...policyRules(resolved.offer),
    };
    this.store.agreements.insert({
      id: agreement['@id'] as string,
      negotiationId: n.id,
      role: 'provider',
      providerId: self,
      consumerId: n.counterpartyId,
      assetId: resolved.asset.id,
      agreement,
      signedAt: agreement.timestamp as string,
      status: 'pending',
    });
    return agreement;
  }

  // ---------------------------------------------------------------- consumer: starting and operator actions

  /** Start a negotiation as consumer for an offer from a provider's catalog. */
  start(input: { providerAddress: string; providerId: string; offer: Json; datasetId?: string }): Negotiation {
    const providerAddress = this.checkAddress(input.providerAddress, 'counterPartyAddress', {}).replace(/\/+$/, '');
    const target = (input.offer.target as string | undefined) ?? input.datasetId;
    if (!target) throw new DspBadRequestError('OFFER_TARGET_MISSING', ['the offer has no target: give datasetId']);
    const offer: Json = { '@id': input.offer['@id'], '@type': 'Offer', target, ...policyRules(input.offer) };
    if (!validateDspMessage(contractRequestMessage({ consumerPid: newPid(), offer, callbackAddress: this.deps.self().callbackAddress }), 'ContractRequestMessage').ok) {
      throw new DspBadRequestError('OFFER_INVALID', ['the offer is not a valid ODRL offer (needs @id and permission or prohibition)']);
    }
    const n = this.store.transaction(() => {
      const consumerPid = newPid();
      const created = this.store.negotiations.insert({
        id: consumerPid,
        role: 'consumer',
        providerPid: null,
        consumerPid,
        counterpartyId: input.providerId,
        counterpartyAddress: providerAddress,
        counterpartyClaims: {},
        state: 'REQUESTED',
        nextAction: null,
        assetId: target,
        offerId: offer['@id'] as string,
        offer,
        agreementId: null,
        error: null,
      });
      this.store.outbox.enqueue({
        processId: consumerPid,
        messageType: 'ContractRequestMessage',
        url: joinUrl(providerAddress, '/negotiations/request'),
        audience: input.providerId,
        body: contractRequestMessage({ consumerPid, offer, callbackAddress: this.deps.self().callbackAddress }),
        giveUpAt: Date.now() + this.deps.giveUpMs,
      });
      this.event(consumerPid, 'transition', 'ContractRequestMessage', null, 'REQUESTED', { offer: offer['@id'], provider: input.providerId });
      return this.plan(created, 'sent-request');
    });
    this.runPending(n.id);
    return n;
  }

  /** Operator actions on a negotiation (management API): terminate, or accept a provider's offer. */
  operatorAction(id: string, action: 'terminate' | 'accept', reason?: string): Negotiation {
    const n = this.store.negotiations.get(id);
    if (!n) throw new NotFoundError(`negotiation ${id} not found`);
    const intent: Intent =
      action === 'terminate'
        ? terminate('TERMINATED_BY_OPERATOR', [reason ?? 'terminated by the operator'])
        : n.role === 'consumer'
          ? { message: 'AcceptedEvent' }
          : { message: 'ContractAgreementMessage' };
    const check = checkTransition(machineFor(n.role), n.state, intent.message, 'out');
    if (!check.ok) throw new ConflictError(check.reason, 'INVALID_TRANSITION');
    this.store.transaction(() => this.store.negotiations.update(id, { nextAction: JSON.stringify([intent]) }));
    this.runPending(id);
    return this.store.negotiations.get(id)!;
  }

  // ---------------------------------------------------------------- outbox outcomes

  /** Fill in what was not known at enqueue time (the provider's pid before its first answer). */
  prepare(entry: OutboxEntry): OutboxEntry | null {
    if (!entry.url.includes(PENDING_PROVIDER_PID) && entry.body.providerPid !== PENDING_PROVIDER_PID) return entry;
    const n = this.store.negotiations.get(entry.processId);
    if (!n?.providerPid) return null; // not yet: the request's answer has not arrived
    const pid = n.providerPid;
    return { ...entry, url: entry.url.replace(PENDING_PROVIDER_PID, encodeURIComponent(pid)), body: { ...entry.body, providerPid: pid } };
  }

  delivered(entry: OutboxEntry, response: DspResponse): void {
    this.store.transaction(() => {
      this.event(entry.processId, 'sent', entry.messageType, null, null, { status: response.status });
      if (entry.messageType !== 'ContractRequestMessage' || entry.body.providerPid) return;
      // The answer to our initial request names the provider's pid.
      const check = validateDspMessage(response.body, 'ContractNegotiation');
      const ack = response.body as Json | null;
      const n = this.store.negotiations.get(entry.processId);
      if (!n) return;
      if (!check.ok || !ack || typeof ack.providerPid !== 'string' || ack.consumerPid !== n.consumerPid) {
        const reason = `provider answered the request without a valid ContractNegotiation (${check.ok ? 'pid mismatch' : check.errors[0]?.message ?? 'no body'})`;
        if (!n.providerPid) this.giveUpLocally(n, reason);
        return;
      }
      if (!n.providerPid) this.store.negotiations.update(n.id, { providerPid: ack.providerPid });
    });
    this.deps.kick();
  }

  rejected(entry: OutboxEntry, response: DspResponse): void {
    const reasons = reasonsOf(response.body);
    this.store.transaction(() => {
      this.event(entry.processId, 'send-failed', entry.messageType, null, null, { status: response.status, reasons });
      const n = this.store.negotiations.get(entry.processId);
      if (!n || n.state === 'TERMINATED' || entry.messageType === 'ContractNegotiationTerminationMessage') return;
      // Our states diverged from the peer's: the spec requires terminating. Tell the peer too.
      const why = `peer refused ${entry.messageType} with HTTP ${response.status}${reasons.length ? `: ${reasons.join('; ')}` : ''}`;
      if (n.state === 'FINALIZED') return;
      this.store.negotiations.update(n.id, { nextAction: JSON.stringify([terminate('PEER_REJECTED', [why])]) });
    });
    this.runPending(entry.processId);
  }

  gaveUp(entry: OutboxEntry, lastError: string): void {
    this.store.transaction(() => {
      const n = this.store.negotiations.get(entry.processId);
      this.event(entry.processId, 'send-failed', entry.messageType, null, null, { gaveUp: true, error: lastError });
      if (n && n.state !== 'TERMINATED' && n.state !== 'FINALIZED') this.giveUpLocally(n, `peer unreachable, gave up on ${entry.messageType}: ${lastError}`);
    });
  }

  /** End a negotiation here without telling the peer (it cannot be reached or does not answer sensibly). */
  private giveUpLocally(n: Negotiation, reason: string): void {
    this.store.negotiations.update(n.id, { ...this.ended(n, reason, undefined, true), state: 'TERMINATED' });
    this.event(n.id, 'transition', null, n.state, 'TERMINATED', { reason });
  }

  // ---------------------------------------------------------------- helpers

  private checkAddress(address: string, field: string, pids: { providerPid?: string; consumerPid?: string }): string {
    try {
      return this.deps.guard.checkUrl(address, field).toString().replace(/\/+$/, '');
    } catch (err) {
      if (err instanceof HedgerowError) throw new DspBadRequestError('ADDRESS_REFUSED', [err.message], pids);
      throw err;
    }
  }

  private event(processId: string, kind: 'received' | 'sent' | 'send-failed' | 'transition' | 'decision' | 'note', messageType: string | null, from: NegotiationState | null, to: NegotiationState | null, detail?: unknown): void {
    this.store.processEvents.append({ processId, kind, messageType, fromState: from, toState: to, detail });
  }
}

/** Placeholder for the provider's pid in messages queued before the provider answered our request. */
const PENDING_PROVIDER_PID = 'urn:hedgerow:pending-provider-pid';

function reasonsOf(body: unknown): string[] {
  const reason = (body as Json | null)?.reason;
  return Array.isArray(reason) ? reason.slice(0, 5).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)).slice(0, 500)) : [];
}

/** What of a received message goes into the timeline (reasons, codes, offer and agreement ids). */
function messageDetail(msg: Json): Json | undefined {
  const d: Json = {};
  if (msg.code !== undefined) d.code = msg.code;
  if (Array.isArray(msg.reason)) d.reasons = msg.reason;
  if (msg.offer && typeof msg.offer === 'object') d.offer = (msg.offer as Json)['@id'];
  if (msg.agreement && typeof msg.agreement === 'object') d.agreement = (msg.agreement as Json)['@id'];
  if (msg.eventType) d.eventType = msg.eventType;
  return Object.keys(d).length ? d : undefined;
}
