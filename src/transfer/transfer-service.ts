import type { Transfer, TransferPatch } from '../store/repositories/transfers';
import type { Role } from '../store/repositories/negotiations';
import type { OutboxEntry } from '../store/repositories/outbox';
import type { AgreementRecord } from '../store/repositories/agreements';
import type { VerifiedPeer } from '../identity/peer-token';
import type { DspResponse } from '../protocol/dsp/client';
import type { Self } from '../negotiation/negotiation-service';
import { CONSUMER_TRANSFER, PROVIDER_TRANSFER, type TransferMessage } from '../statemachine/transfer';
import { DspBadRequestError } from '../protocol/dsp/errors';
import { joinUrl } from '../protocol/dsp/client';
import { dspContext } from '../protocol/dsp/schema-validator';
import { newPid, transferAck } from '../protocol/dsp/messages';
import { evaluate, type Decision, type OdrlPolicy } from '../policy';
import { HedgerowError, NotFoundError, ValidationError } from '../errors';
import { PENDING_PROVIDER_PID, ProcessService, type BaseIntent, type ProcessServiceDeps } from '../process/process-service';
import type { FactProvider } from '../usage/facts';
import { DISTRIBUTION_FORMATS } from '../catalog/catalog-service';

type Json = Record<string, unknown>;

export const HTTP_ENDPOINT_TYPE = 'https://w3id.org/idsa/v4.1/HTTP';
export const PULL = 'HttpData-PULL';
export const PUSH = 'HttpData-PUSH';

export interface TransferIntent extends BaseIntent<TransferMessage> {}

export type TransferTrigger =
  | 'requested' // provider: request received
  | 'resumed' // provider: consumer resumed a suspended transfer
  | 'sent-request' // consumer: our request is on its way
  | 'started' // consumer: provider started (or resumed)
  | 'suspended'
  | 'completed';

export interface TransferScript {
  decide(trigger: TransferTrigger, t: Transfer): TransferIntent[] | undefined;
}

/** What the data plane does for transfers; wired by the composition root. */
export interface TransferDataPlane {
  /** The pull DataAddress for a provider-side transfer: endpoint, fresh token, digest when known. */
  pullAddress(t: Transfer): Promise<Json>;
  /** Stream the data of a provider-side push transfer to its target. */
  push(t: Transfer): Promise<{ bytes: number; sha256: string }>;
  /** Cut the data streams (pulls being served, a push) of a transfer that is no longer STARTED. */
  stopStreams(transferId: string, reason: string): void;
}

export interface TransferServiceDeps extends ProcessServiceDeps {
  self: () => Self;
  facts: FactProvider;
  script?: TransferScript;
  dataPlane: () => TransferDataPlane;
  /** Told when a transfer is terminated (inside that transaction): usage control applies delete duties. */
  ended?: (t: Transfer) => void;
}

const msg = (type: string, fields: Json): Json => ({ '@context': dspContext(), '@type': type, ...fields });
const stop = (code: string, reasons: string[]): TransferIntent => ({ message: 'TransferTerminationMessage', code, reasons });

/**
 * Transfer process in both roles on top of the shared DSP process machinery. The provider checks the
 * agreement on every request; pull tokens are minted at send time (fresh on every retry); push data
 * is streamed once the start message was accepted, then completed or terminated with the reason.
 */
export class TransferService extends ProcessService<Transfer, TransferPatch, TransferMessage, TransferIntent, TransferTrigger> {
  protected readonly kind = 'transfer process';
  protected readonly initialRequest = { message: 'TransferRequestMessage', ack: 'TransferProcess' as const };
  protected readonly terminationMessage = 'TransferTerminationMessage' as const;
  protected readonly repo;
  private readonly pushes = new Map<string, Promise<void>>();

  constructor(private readonly deps: TransferServiceDeps) {
    super(deps);
    this.repo = deps.store.transfers;
  }

  protected machine(role: Role) {
    return role === 'provider' ? PROVIDER_TRANSFER : CONSUMER_TRANSFER;
  }

  protected scriptedDecision(trigger: TransferTrigger, t: Transfer): TransferIntent[] | undefined {
    return this.deps.script?.decide(trigger, t);
  }

  protected defaultDecision(trigger: TransferTrigger): TransferIntent[] {
    // Providers start what they accepted; everything else waits for the operator, the CLI or the peer.
    return trigger === 'requested' ? [{ message: 'TransferStartMessage' }] : [];
  }

  protected override onTransition(id: string, to: string): void {
    if (to === 'STARTED') return;
    // After the transaction, and only if the change committed: a rolled-back transition must not cut a stream.
    setImmediate(() => {
      let t: Transfer | undefined;
      try {
        t = this.repo.get(id);
      } catch {
        return; // the store closed meanwhile (shutdown): the streams end with the process
      }
      if (t?.role === 'provider' && t.state !== 'STARTED') this.deps.dataPlane().stopStreams(id, `transfer ${t.state}`);
    });
  }

  protected onEnded(t: Transfer): TransferPatch {
    this.deps.ended?.(t);
    return {};
  }

  ack(t: Transfer): Json {
    return transferAck(t);
  }

  // ---------------------------------------------------------------- agreement checks

  /**
   * Whether the agreement allows a transfer now: it exists between exactly these two participants,
   * it is active (negotiation FINALIZED, not revoked), and its policy allows the transfer scope.
   */
  checkAgreement(agreementId: string, role: Role, counterpartyId: string): { agreement: AgreementRecord; decision: Decision } {
    const agreement = this.store.agreements.get(agreementId, role);
    const other = agreement && (role === 'provider' ? agreement.consumerId : agreement.providerId);
    if (!agreement || other !== counterpartyId) {
      throw new DspBadRequestError('UNKNOWN_AGREEMENT', [`agreement ${agreementId} is not an agreement between ${counterpartyId} and this connector`]);
    }
    if (agreement.status !== 'active') {
      throw new DspBadRequestError('AGREEMENT_NOT_ACTIVE', [`agreement ${agreementId} is ${agreement.status === 'pending' ? 'not finalized' : `revoked (${agreement.statusReason ?? 'no reason given'})`}`]);
    }
    const decision = evaluate(agreement.agreement as unknown as OdrlPolicy, { scope: 'transfer', facts: this.deps.facts.underAgreement(agreement) });
    return { agreement, decision };
  }

  // ---------------------------------------------------------------- provider: inbound

  /** TransferRequestMessage: 201 + TransferProcess. Idempotent per consumer and consumerPid. */
  receiveRequest(peer: VerifiedPeer, m: Json): Transfer {
    const consumerPid = m.consumerPid as string;
    const existing = this.repo.byPeerConsumerPid(peer.participantId, consumerPid);
    if (existing) return existing; // a retried request whose response was lost
    const pids = { consumerPid };
    this.admitNewProcess(peer, pids);
    const callbackAddress = this.checkAddress(m.callbackAddress as string, 'callbackAddress', pids);
    const format = m.format as string;
    if (!(DISTRIBUTION_FORMATS as readonly string[]).includes(format)) {
      throw new DspBadRequestError('FORMAT_UNSUPPORTED', [`format ${format} is not offered; use one of ${DISTRIBUTION_FORMATS.join(', ')}`], pids);
    }
    let dataAddress: Json | null = null;
    if (format === PUSH) {
      const address = m.dataAddress as Json | undefined;
      if (!address?.endpoint) throw new DspBadRequestError('DATA_ADDRESS_MISSING', ['a push transfer needs a dataAddress with an endpoint'], pids);
      this.checkAddress(address.endpoint as string, 'dataAddress.endpoint', pids);
      dataAddress = address;
    }
    let checked;
    try {
      checked = this.checkAgreement(m.agreementId as string, 'provider', peer.participantId);
    } catch (err) {
      if (err instanceof DspBadRequestError) throw new DspBadRequestError(err.code, err.reasons, pids);
      throw err;
    }
    if (!checked.decision.allowed) throw new DspBadRequestError('POLICY_DENIED', [checked.decision.reason], pids);
    if (!this.store.assets.get(checked.agreement.assetId)) {
      throw new DspBadRequestError('ASSET_GONE', [`the dataset ${checked.agreement.assetId} of this agreement is no longer available`], pids);
    }
    return this.store.transaction(() => {
      const providerPid = newPid();
      const t = this.repo.insert({
        id: providerPid,
        role: 'provider',
        providerPid,
        consumerPid,
        counterpartyId: peer.participantId,
        counterpartyAddress: callbackAddress,
        agreementId: checked.agreement.id,
        assetId: checked.agreement.assetId,
        format,
        state: 'REQUESTED',
        nextAction: null,
        dataAddress,
        dataStatus: null,
        bytes: null,
        sha256: null,
        error: null,
      });
      this.event(t.id, 'received', 'TransferRequestMessage', null, 'REQUESTED', { agreementId: t.agreementId, format });
      this.event(t.id, 'decision', null, 'REQUESTED', null, { scope: 'transfer', allowed: true, reason: checked.decision.reason, trace: checked.decision.trace });
      return this.plan(t, 'requested');
    });
  }

  // ---------------------------------------------------------------- both roles: inbound

  receiveStart(role: Role, peer: VerifiedPeer, pid: string, m: Json): Transfer {
    return this.receive(role, peer, pid, 'TransferStartMessage', m, () => (role === 'consumer' && m.dataAddress ? { dataAddress: m.dataAddress as Json } : {}), role === 'consumer' ? 'started' : 'resumed');
  }

  receiveCompletion(role: Role, peer: VerifiedPeer, pid: string, m: Json): Transfer {
    return this.receive(role, peer, pid, 'TransferCompletionMessage', m, () => ({}), 'completed');
  }

  receiveSuspension(role: Role, peer: VerifiedPeer, pid: string, m: Json): Transfer {
    return this.receive(role, peer, pid, 'TransferSuspensionMessage', m, () => ({}), 'suspended');
  }

  // ---------------------------------------------------------------- outbound

  protected outbound(t: Transfer, intent: TransferIntent): { url: string; body: Json; patch: TransferPatch } {
    const providerPid = t.providerPid ?? PENDING_PROVIDER_PID;
    const consumerPid = t.consumerPid!;
    const pids = { providerPid, consumerPid };
    const peerPid = t.role === 'provider' ? consumerPid : providerPid;
    const url = (suffix: string) => joinUrl(t.counterpartyAddress!, `/transfers/${t.providerPid || t.role === 'provider' ? encodeURIComponent(peerPid) : PENDING_PROVIDER_PID}/${suffix}`);
    const reason = intent.reasons?.length ? { code: intent.code ?? 'TERMINATED', reason: intent.reasons } : {};
    switch (intent.message) {
      case 'TransferStartMessage':
        // A pull DataAddress (token, digest) is filled in at send time by prepare(): fresh on every retry.
        return { url: url('start'), body: msg('TransferStartMessage', pids), patch: {} };
      case 'TransferCompletionMessage':
        return { url: url('completion'), body: msg('TransferCompletionMessage', pids), patch: {} };
      case 'TransferSuspensionMessage':
        return { url: url('suspension'), body: msg('TransferSuspensionMessage', { ...pids, ...reason }), patch: {} };
      case 'TransferTerminationMessage':
        return { url: url('termination'), body: msg('TransferTerminationMessage', { ...pids, ...reason }), patch: {} };
      case 'TransferRequestMessage':
        throw new Error('the transfer request is sent by start(), not as an intent');
    }
  }

  /** Pull starts get their DataAddress (fresh token, digest) at the moment they are sent. */
  override async prepare(entry: OutboxEntry): Promise<OutboxEntry | null> {
    const ready = await super.prepare(entry);
    if (!ready || entry.messageType !== 'TransferStartMessage') return ready;
    const t = this.repo.get(entry.processId);
    if (!t || t.role !== 'provider' || t.format !== PULL) return ready;
    return { ...ready, body: { ...ready.body, dataAddress: await this.deps.dataPlane().pullAddress(t) } };
  }

  /** After a push transfer's start was accepted, stream the data; then complete, or terminate with the reason. */
  override delivered(entry: OutboxEntry, response: DspResponse): void {
    super.delivered(entry, response);
    if (entry.messageType !== 'TransferStartMessage') return;
    const t = this.repo.get(entry.processId);
    if (t?.role === 'provider' && t.format === PUSH && t.state === 'STARTED') this.startPush(t);
  }

  /** Resume owed messages and interrupted pushes after a restart. */
  resume(): void {
    this.runPending();
    for (const t of this.repo.unfinishedPushes()) this.startPush(t);
  }

  private startPush(t: Transfer): void {
    if (this.pushes.has(t.id)) return;
    this.store.transaction(() => {
      this.repo.update(t.id, { dataStatus: 'pushing' });
      this.event(t.id, 'note', null, t.state, null, { push: 'started' });
    });
    const job = this.deps
      .dataPlane()
      .push(t)
      .then(
        ({ bytes, sha256 }) => {
          this.store.transaction(() => {
            this.repo.update(t.id, { dataStatus: 'pushed', bytes, sha256 });
            this.event(t.id, 'note', null, null, null, { push: 'delivered', bytes, sha256 });
          });
          this.owe(t.id, [{ message: 'TransferCompletionMessage' }]);
        },
        (err: unknown) => {
          const reason = `push to the consumer failed: ${(err as Error).message}`;
          this.base.logger.warn('push transfer failed', { transfer: t.id, error: (err as Error).message });
          // Unless the push was refused because the transfer already ended (e.g. terminated for a policy denial).
          this.terminateForDataPlane(t.id, 'PUSH_FAILED', reason);
        },
      )
      .finally(() => this.pushes.delete(t.id));
    this.pushes.set(t.id, job);
  }

  // ---------------------------------------------------------------- data plane hooks (provider)

  /**
   * Terminate a transfer because of something the data plane saw (backend down, policy no longer
   * satisfied), telling the consumer why.
   */
  terminateForDataPlane(id: string, code: string, reason: string): void {
    const t = this.repo.get(id);
    if (!t || this.machine(t.role).terminal.has(t.state)) return;
    this.owe(id, [stop(code, [reason])]);
  }

  // ---------------------------------------------------------------- consumer: starting, operator actions

  /** Start a transfer as consumer under an agreement we hold. `pushTo` asks the provider to push there. */
  start(input: { agreementId: string; providerAddress?: string; pushTo?: { url: string; authorization?: string } }): Transfer {
    const agreement = this.store.agreements.get(input.agreementId, 'consumer');
    if (!agreement) throw new NotFoundError(`agreement ${input.agreementId} not found among this connector's agreements as consumer`);
    if (agreement.status !== 'active') throw new HedgerowError('AGREEMENT_NOT_ACTIVE', `agreement ${input.agreementId} is ${agreement.status}`, { httpStatus: 409, exitCode: 73 });
    const negotiation = this.store.negotiations.get(agreement.negotiationId);
    const providerAddress = (input.providerAddress ?? negotiation?.counterpartyAddress ?? '').replace(/\/+$/, '');
    if (!providerAddress) throw new ValidationError('the provider address is unknown: give providerAddress', '/providerAddress');
    const format = input.pushTo ? PUSH : PULL;
    let dataAddress: Json | undefined;
    if (input.pushTo) {
      if (!/^https:\/\//.test(input.pushTo.url)) throw new ValidationError('must be an https URL', '/pushTo/url');
      dataAddress = {
        '@type': 'DataAddress',
        endpointType: HTTP_ENDPOINT_TYPE,
        endpoint: input.pushTo.url,
        ...(input.pushTo.authorization
          ? {
              endpointProperties: [
                { '@type': 'EndpointProperty', name: 'authorization', value: input.pushTo.authorization },
                { '@type': 'EndpointProperty', name: 'authType', value: 'bearer' },
              ],
            }
          : {}),
      };
    }
    const self = this.deps.self();
    const t = this.store.transaction(() => {
      const consumerPid = newPid();
      const created = this.repo.insert({
        id: consumerPid,
        role: 'consumer',
        providerPid: null,
        consumerPid,
        counterpartyId: agreement.providerId,
        counterpartyAddress: providerAddress,
        agreementId: agreement.id,
        assetId: agreement.assetId,
        format,
        state: 'REQUESTED',
        nextAction: null,
        dataAddress: dataAddress ?? null,
        dataStatus: null,
        bytes: null,
        sha256: null,
        error: null,
      });
      this.enqueueInitial(
        created,
        joinUrl(providerAddress, '/transfers/request'),
        msg('TransferRequestMessage', { consumerPid, agreementId: agreement.id, format, ...(dataAddress ? { dataAddress } : {}), callbackAddress: self.callbackAddress }),
      );
      this.event(consumerPid, 'transition', 'TransferRequestMessage', null, 'REQUESTED', { agreementId: agreement.id, format });
      return this.plan(created, 'sent-request');
    });
    this.runPending(t.id);
    return t;
  }

  /** Operator actions: suspend, resume, complete, terminate (checked against the table first). */
  operatorAction(id: string, action: 'suspend' | 'resume' | 'complete' | 'terminate', reason?: string): Transfer {
    const t = this.repo.get(id);
    if (!t) throw new NotFoundError(`transfer ${id} not found`);
    const reasons = reason ? [reason] : [`${action} requested by the operator`];
    const intent: TransferIntent = {
      suspend: { message: 'TransferSuspensionMessage', code: 'SUSPENDED_BY_OPERATOR', reasons } as TransferIntent,
      resume: { message: 'TransferStartMessage' } as TransferIntent,
      complete: { message: 'TransferCompletionMessage' } as TransferIntent,
      terminate: stop('TERMINATED_BY_OPERATOR', reasons),
    }[action];
    this.assertAllowed(t, intent.message);
    this.owe(id, [intent]);
    return this.repo.get(id)!;
  }

  /** Record what the consumer downloaded (for the timeline and `hedgerow transfers`). */
  recordDownload(id: string, result: { bytes: number; sha256: string }): void {
    this.store.transaction(() => {
      this.repo.update(id, { dataStatus: 'downloaded', bytes: result.bytes, sha256: result.sha256 });
      this.event(id, 'note', null, null, null, { downloaded: result.bytes, sha256: result.sha256 });
    });
  }

  /** Wait for pushes under way (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pushes.values()]);
  }
}
