import type { Negotiation, NegotiationPatch, Role } from '../store/repositories/negotiations';
import type { VerifiedPeer } from '../identity/peer-token';
import type { CatalogService } from '../catalog/catalog-service';
import { CONSUMER_NEGOTIATION, PROVIDER_NEGOTIATION, type NegotiationMessage } from '../statemachine/negotiation';
import { DspBadRequestError } from '../protocol/dsp/errors';
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
import { evaluate } from '../policy';
import type { FactProvider } from '../usage/facts';
import { bindPurpose, declaredPurpose } from '../usage/purpose';
import { NotFoundError } from '../errors';
import { terminate, type DecisionScript, type Intent, type Trigger } from './decisions';
import { claimsOf, PENDING_PROVIDER_PID, ProcessService, type ProcessServiceDeps } from '../process/process-service';

export { claimsOf };

type Json = Record<string, unknown>;

export interface Self {
  participantId: string;
  /** Our DSP base URL (provider endpoints). */
  dspBaseUrl: string;
  /** Where providers reach our consumer endpoints. */
  callbackAddress: string;
}

export interface NegotiationServiceDeps extends ProcessServiceDeps {
  catalog: CatalogService;
  facts: FactProvider;
  self: () => Self;
  script?: DecisionScript;
}


/**
 * Contract negotiation in both roles: the messages that are specific to negotiations, the decisions
 * (offer, agree, verify, terminate) and the agreement. The shared protocol machinery (transition
 * checks, timeline, durable outbox, outcomes) is in ProcessService.
 */
export class NegotiationService extends ProcessService<Negotiation, NegotiationPatch, NegotiationMessage, Intent, Trigger> {
  protected readonly kind = 'contract negotiation';
  protected readonly initialRequest = { message: 'ContractRequestMessage', ack: 'ContractNegotiation' as const };
  protected readonly terminationMessage = 'ContractNegotiationTerminationMessage' as const;
  protected readonly repo;

  constructor(private readonly deps: NegotiationServiceDeps) {
    super(deps);
    this.repo = deps.store.negotiations;
  }

  protected machine(role: Role) {
    return role === 'provider' ? PROVIDER_NEGOTIATION : CONSUMER_NEGOTIATION;
  }

  protected scriptedDecision(trigger: Trigger, n: Negotiation, incoming?: Json): Intent[] | undefined {
    return this.deps.script?.decide(trigger, n, incoming);
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
    this.admitNewProcess(peer, { consumerPid });
    const callbackAddress = this.checkAddress(msg.callbackAddress as string, 'callbackAddress', { consumerPid });
    const claims = claimsOf(peer);
    const resolved = this.deps.catalog.resolveOffer(this.deps.facts.identity(peer.participantId, claims), offer['@id'] as string, offer.target as string | undefined);
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
      throw new DspBadRequestError('INVALID_EVENT', [`a consumer may only send the ACCEPTED event, not ${String(msg.eventType)}`], this.pidsOf(n));
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
    this.admitNewProcess(peer, { providerPid: msg.providerPid as string });
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
      // Agreement ids are the provider's choice and our primary key: a reused one is the peer's error, not a 500.
      if (this.store.agreements.get(agreement['@id'] as string, 'consumer')) {
        throw new DspBadRequestError('AGREEMENT_ID_CONFLICT', [`agreement ${String(agreement['@id'])} already exists`], this.pidsOf(n));
      }
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
      throw new DspBadRequestError('INVALID_EVENT', [`a provider may only send the FINALIZED event, not ${String(msg.eventType)}`], this.pidsOf(n));
    }
    return this.receive('consumer', peer, consumerPid, 'FinalizedEvent', msg, (n) => {
      if (n.agreementId) this.store.agreements.setStatus(n.agreementId, 'consumer', 'active');
      return {};
    }, 'finalized');
  }

  /** A voided pending agreement: it never took effect. */
  protected onEnded(n: Negotiation, why: string): NegotiationPatch {
    if (n.agreementId) {
      const a = this.store.agreements.get(n.agreementId, n.role);
      if (a && a.status !== 'active') this.store.agreements.setStatus(n.agreementId, n.role, 'revoked', why);
    }
    return {};
  }

  // ---------------------------------------------------------------- decisions

  protected defaultDecision(trigger: Trigger, n: Negotiation, incoming?: Json): Intent[] {
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
    let resolved;
    try {
      resolved = this.deps.catalog.resolveOffer(this.deps.facts.identity(n.counterpartyId, n.counterpartyClaims), n.offerId ?? '', n.assetId ?? undefined);
    } catch (err) {
      return terminate('OFFER_UNAVAILABLE', [(err as Error).message]);
    }
    // The published offer, bound to the purpose the consumer declared, is the only thing we agree to.
    if (n.offer && !sameRules(n.offer, bindPurpose(resolved.offer, declaredPurpose(n.offer)))) {
      return terminate('COUNTER_OFFER_REJECTED', ['only the published offer (optionally bound to a declared purpose) can be agreed; counter-offers are declined']);
    }
    const facts = this.deps.facts.negotiation(n.counterpartyId, n.counterpartyClaims, n.offer, n.assetId);
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

  /** The URL and body of an outbound message (pid placeholders are filled at send time, see prepare). */
  protected outbound(n: Negotiation, intent: Intent): { url: string; body: Json; patch: NegotiationPatch } {
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
    const resolved = this.deps.catalog.resolveOffer(this.deps.facts.identity(n.counterpartyId, n.counterpartyClaims), n.offerId ?? '', n.assetId ?? undefined);
    const agreement: Json = {
      '@id': newPid(),
      '@type': 'Agreement',
      target: resolved.asset.id,
      assigner: self,
      assignee: n.counterpartyId,
      timestamp: new Date().toISOString(),
      ...policyRules(bindPurpose(resolved.offer, declaredPurpose(n.offer))),
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
  /** Start a negotiation as consumer for an offer from a provider's catalog, declaring our purpose if given. */
  start(input: { providerAddress: string; providerId: string; offer: Json; datasetId?: string; purpose?: string }): Negotiation {
    const providerAddress = this.checkAddress(input.providerAddress, 'counterPartyAddress', {}).replace(/\/+$/, '');
    const target = (input.offer.target as string | undefined) ?? input.datasetId;
    if (!target) throw new DspBadRequestError('OFFER_TARGET_MISSING', ['the offer has no target: give datasetId']);
    const offer: Json = { '@id': input.offer['@id'], '@type': 'Offer', target, ...policyRules(bindPurpose(input.offer, input.purpose)) };
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
      this.enqueueInitial(created, joinUrl(providerAddress, '/negotiations/request'), contractRequestMessage({ consumerPid, offer, callbackAddress: this.deps.self().callbackAddress }));
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
    this.assertAllowed(n, intent.message);
    this.owe(id, [intent]);
    return this.store.negotiations.get(id)!;
  }
}
