import type { Store } from '../store/store';
import type { Role } from '../store/repositories/negotiations';
import type { OutboxEntry } from '../store/repositories/outbox';
import type { ProcessEventKind } from '../store/repositories/process-events';
import type { Logger } from '../log/logger';
import type { VerifiedPeer } from '../identity/peer-token';
import type { AddressGuard } from '../net/address-guard';
import type { AuditTrail } from '../audit/audit-trail';
import type { DspResponse } from '../protocol/dsp/client';
import type { DspMessageType } from '../protocol/dsp/schema-validator';
import { validateDspMessage } from '../protocol/dsp/schema-validator';
import { checkTransition, type StateMachine } from '../statemachine/table';
import { DspBadRequestError, InvalidTransitionError, UnknownProcessError } from '../protocol/dsp/errors';
import { HedgerowError, QuotaExceededError } from '../errors';

type Json = Record<string, unknown>;

/** What every DSP process (negotiation, transfer) stores about itself. */
export interface ProcessRecord {
  id: string;
  role: Role;
  providerPid: string | null;
  consumerPid: string | null;
  counterpartyId: string;
  counterpartyAddress: string | null;
  state: string;
  nextAction: string | null;
  error: string | null;
}

/** The patch fields the shared machinery writes. */
export interface ProcessPatch {
  state?: string;
  nextAction?: string | null;
  providerPid?: string | null;
  error?: string | null;
}

export interface ProcessRepository<R extends ProcessRecord, P> {
  get(id: string): R | undefined;
  own(role: Role, pid: string): R | undefined;
  update(id: string, patch: P): R;
  pending(): R[];
}

/** A message this connector owes the peer. */
export interface BaseIntent<M extends string> {
  message: M;
  code?: string;
  reasons?: string[];
}

export interface ProcessServiceDeps {
  store: Store;
  guard: AddressGuard;
  /** How long undeliverable messages are retried before the process is given up. */
  giveUpMs: number;
  /** Wake the outbox dispatcher. */
  kick: () => void;
  logger: Logger;
  /** Tamper-evident audit trail: transitions, messages and decisions are also recorded there, in the same transaction. */
  audit?: AuditTrail;
  /**
   * Most open (non-terminal) negotiations and transfers, together and in both roles, one peer may have
   * with us before a message creating another is refused with 429 (dsp.limits.openProcessesPerPeer; 0: no limit).
   */
  openProcessesPerPeer: number;
}

/** Placeholder for the provider's pid in messages queued before the provider answered our request. */
export const PENDING_PROVIDER_PID = 'urn:hedgerow:pending-provider-pid';

/**
 * The machinery shared by contract negotiation and transfer process, in both roles:
 * - inbound: find the process for the verified peer (404 otherwise), check the pids and the role's
 *   transition table (400 + error body otherwise), apply, record in the timeline, decide what we owe;
 * - outbound: execute owed intents through the transition table into the durable outbox, after the
 *   response that created the process has gone out and again at start-up;
 * - outbox outcomes: learn the provider pid, diverged states end the process (the spec requires it).
 * Each step is one SQLite transaction with its timeline entries and outbox rows.
 */
export abstract class ProcessService<R extends ProcessRecord, P extends ProcessPatch, M extends string, I extends BaseIntent<M>, T extends string> {
  protected abstract readonly kind: 'contract negotiation' | 'transfer process';
  protected abstract readonly repo: ProcessRepository<R, P>;
  /** The message that creates a process on the provider, and the acknowledgement naming its pid. */
  protected abstract readonly initialRequest: { message: string; ack: DspMessageType };
  protected abstract readonly terminationMessage: M;

  constructor(protected readonly base: ProcessServiceDeps) {}

  protected abstract machine(role: Role): StateMachine<string, M>;
  /** What we owe after `trigger`, by the real rules. */
  protected abstract defaultDecision(trigger: T, p: R, incoming?: Json): I[];
  /** A scripted decision (conformance profile); undefined defers to the default. */
  protected abstract scriptedDecision(trigger: T, p: R, incoming?: Json): I[] | undefined;
  /** URL, body and side effects of an outbound message. */
  protected abstract outbound(p: R, intent: I): { url: string; body: Json; patch: P };
  /** Process-specific bookkeeping when the process ends (agreements void, tokens dead, ...). */
  protected abstract onEnded(p: R, why: string): P;

  protected get store(): Store {
    return this.base.store;
  }

  // ---------------------------------------------------------------- inbound

  /** A process as the counterparty may see it: unknown and foreign look alike (404). */
  findForPeer(role: Role, pid: string, peer: VerifiedPeer): R {
    const p = this.repo.own(role, pid);
    if (!p || p.counterpartyId !== peer.participantId) throw new UnknownProcessError(this.kind);
    return p;
  }

  protected pidsOf(p: R): { providerPid: string | null; consumerPid: string | null } {
    return { providerPid: p.providerPid, consumerPid: p.consumerPid };
  }

  /** The common path of every message on an existing process. One transaction. */
  protected receive(role: Role, peer: VerifiedPeer, pid: string, message: M, msg: Json, apply: (p: R) => P, trigger: T | undefined): R {
    let refused = undefined as { p: R; reason: string } | undefined;
    try {
      return this.store.transaction(() => {
        const p = this.findForPeer(role, pid, peer);
        this.checkPids(p, msg);
        const check = checkTransition(this.machine(role), p.state, message, 'in');
        if (!check.ok) {
          refused = { p, reason: check.reason };
          throw new InvalidTransitionError(check.reason, this.pidsOf(p));
        }
        const patch = { ...apply(p), state: check.to } as P;
        if (role === 'consumer' && !p.providerPid) patch.providerPid = msg.providerPid as string;
        const updated = this.repo.update(p.id, patch);
        this.event(p.id, 'received', message, p.state, check.to, messageDetail(msg));
        return trigger ? this.plan(updated, trigger, msg) : updated;
      });
    } catch (err) {
      // The refusal goes on the timeline in a transaction of its own: the one above was rolled back.
      const r = refused;
      if (r) this.store.transaction(() => this.event(r.p.id, 'received', message, r.p.state, null, { rejected: r.reason }));
      throw err;
    }
  }

  /** A termination received: the process ends, nothing more is owed to the peer. */
  receiveTermination(role: Role, peer: VerifiedPeer, pid: string, msg: Json): R {
    return this.receive(role, peer, pid, this.terminationMessage, msg, (p) => this.ended(p, `terminated by ${peer.participantId}`, msg, true), undefined);
  }

  /**
   * The per-peer quota, checked before a peer's message creates a process and before anything is
   * stored: every row, timeline and audit entry a peer can make us write is bounded by the processes it
   * keeps open. Negotiations and transfers count together, in both roles; messages on existing
   * processes (and idempotent repeats of a creating one) never come here. The services are synchronous
   * from this check to their insert, so two requests cannot both take the last place.
   */
  protected admitNewProcess(peer: VerifiedPeer, pids: { providerPid?: string; consumerPid?: string }): void {
    const limit = this.base.openProcessesPerPeer;
    if (!limit) return;
    const open = this.store.negotiations.openWith(peer.participantId) + this.store.transfers.openWith(peer.participantId);
    if (open < limit) return;
    this.base.logger.warn('peer over its open-process quota: new process refused', { peer: peer.participantId, kind: this.kind, open, limit });
    throw new QuotaExceededError(
      `too many open processes: ${open} contract negotiations and transfer processes with this connector have not ended (limit ${limit}); finish or terminate some first`,
      pids,
      { open, limit },
    );
  }

  /** Both pids in a message must be this process's (the counterparty's may be learnt now). */
  private checkPids(p: R, msg: Json): void {
    const mismatch = (field: 'providerPid' | 'consumerPid') => msg[field] !== undefined && p[field] !== null && msg[field] !== p[field];
    if (mismatch('providerPid') || mismatch('consumerPid')) {
      throw new DspBadRequestError('PID_MISMATCH', [`providerPid/consumerPid do not belong to this ${this.kind}`], this.pidsOf(p));
    }
  }

  /**
   * Every state change (received, sent, given up) passes here, inside its transaction. Subclasses react to what
   * must follow a change outside the database (e.g. cutting data streams); they must not assume it commits.
   */
  protected onTransition(_processId: string, _to: string): void {}

  /**
   * Terminal bookkeeping. Undelivered messages are dropped when the peer ended the process (it will
   * not listen); our own termination instead queues behind them, so the peer still receives
   * everything in order.
   */
  protected ended(p: R, why: string, msg: Json | undefined, dropOutbox: boolean): P {
    if (dropOutbox) this.store.outbox.dropProcess(p.id);
    const reasons = reasonsOf(msg);
    return { ...this.onEnded(p, why), nextAction: null, error: [why, ...reasons].join(': ').slice(0, 2000) } as P;
  }

  // ---------------------------------------------------------------- decisions and outbound

  /** Decide what we owe after `trigger` (script first, then the real rules) and persist it. */
  protected plan(p: R, trigger: T, incoming?: Json): R {
    const intents = this.scriptedDecision(trigger, p, incoming) ?? this.defaultDecision(trigger, p, incoming);
    if (intents.length === 0) return p;
    return this.repo.update(p.id, { nextAction: JSON.stringify(intents) } as P);
  }

  /** Persist intents for a process and execute them now (operator actions). */
  protected owe(id: string, intents: I[]): void {
    this.store.transaction(() => this.repo.update(id, { nextAction: JSON.stringify(intents) } as P));
    this.runPending(id);
  }

  /** Execute every owed intent (after a response went out, and at start-up). */
  runPending(id?: string): void {
    const pending = id ? [this.repo.get(id)].filter((p): p is R => !!p?.nextAction) : this.repo.pending();
    for (const p of pending) {
      try {
        this.store.transaction(() => this.execute(p.id));
      } catch (err) {
        this.base.logger.error(`${this.kind} follow-up failed`, { process: p.id, error: (err as Error).message });
      }
    }
    this.base.kick();
  }

  private execute(id: string): void {
    const p = this.repo.get(id);
    if (!p?.nextAction) return;
    const intents = JSON.parse(p.nextAction) as I[];
    let current = this.repo.update(p.id, { nextAction: null } as P);
    for (const intent of intents) {
      const sent = this.send(current, intent);
      if (!sent) break;
      current = sent;
    }
  }

  /** Check the table, move the state, enqueue the message. Returns null when the state no longer allows it. */
  private send(p: R, intent: I): R | null {
    const check = checkTransition(this.machine(p.role), p.state, intent.message, 'out');
    if (!check.ok) {
      this.event(p.id, 'note', intent.message, p.state, null, { skipped: check.reason });
      return null;
    }
    const { url, body, patch } = this.outbound(p, intent);
    const extra = check.to === 'TERMINATED' ? this.ended(p, `terminated by us: ${intent.code ?? ''}`.trim(), body, false) : {};
    const updated = this.repo.update(p.id, { ...patch, ...extra, nextAction: null, state: check.to } as P);
    this.store.outbox.enqueue({ processId: p.id, messageType: intent.message, url, audience: p.counterpartyId, body, giveUpAt: Date.now() + this.base.giveUpMs });
    this.event(p.id, 'transition', intent.message, p.state, check.to, intent.reasons ? { code: intent.code, reasons: intent.reasons } : undefined);
    return updated;
  }

  /** Enqueue the message that creates the process at the provider (consumer side). */
  protected enqueueInitial(p: R, url: string, body: Json): void {
    this.store.outbox.enqueue({ processId: p.id, messageType: this.initialRequest.message, url, audience: p.counterpartyId, body, giveUpAt: Date.now() + this.base.giveUpMs });
  }

  /** Check an operator action against the table before owing it. */
  protected assertAllowed(p: R, message: M): void {
    const check = checkTransition(this.machine(p.role), p.state, message, 'out');
    if (!check.ok) throw new HedgerowError('INVALID_TRANSITION', check.reason, { httpStatus: 409, exitCode: 73 });
  }

  // ---------------------------------------------------------------- outbox outcomes

  /** Fill in what was not known at enqueue time (the provider's pid before its first answer). */
  async prepare(entry: OutboxEntry): Promise<OutboxEntry | null> {
    if (!entry.url.includes(PENDING_PROVIDER_PID) && entry.body.providerPid !== PENDING_PROVIDER_PID) return entry;
    const p = this.repo.get(entry.processId);
    if (!p?.providerPid) return null; // not yet: the request's answer has not arrived
    const pid = p.providerPid;
    return { ...entry, url: entry.url.replace(PENDING_PROVIDER_PID, encodeURIComponent(pid)), body: { ...entry.body, providerPid: pid } };
  }

  delivered(entry: OutboxEntry, response: DspResponse): void {
    this.store.transaction(() => {
      this.event(entry.processId, 'sent', entry.messageType, null, null, { status: response.status });
      if (entry.messageType !== this.initialRequest.message) return;
      // The answer to our initial request names the provider's pid.
      const p = this.repo.get(entry.processId);
      if (!p || p.providerPid) return;
      const check = validateDspMessage(response.body, this.initialRequest.ack);
      const ack = response.body as Json | null;
      if (!check.ok || !ack || typeof ack.providerPid !== 'string' || ack.consumerPid !== p.consumerPid) {
        this.giveUpLocally(p, `provider answered the request without a valid ${this.initialRequest.ack} (${check.ok ? 'pid mismatch' : (check.errors[0]?.message ?? 'no body')})`);
        return;
      }
      this.repo.update(p.id, { providerPid: ack.providerPid } as P);
    });
    this.base.kick();
  }

  rejected(entry: OutboxEntry, response: DspResponse): void {
    const reasons = reasonsOf(response.body);
    this.store.transaction(() => {
      this.event(entry.processId, 'send-failed', entry.messageType, null, null, { status: response.status, reasons });
      const p = this.repo.get(entry.processId);
      if (!p || this.machine(p.role).terminal.has(p.state) || entry.messageType === this.terminationMessage) return;
      // Our states diverged from the peer's: the spec requires terminating. Tell the peer too.
      const why = `peer refused ${entry.messageType} with HTTP ${response.status}${reasons.length ? `: ${reasons.join('; ')}` : ''}`;
      this.repo.update(p.id, { nextAction: JSON.stringify([{ message: this.terminationMessage, code: 'PEER_REJECTED', reasons: [why] }]) } as P);
    });
    this.runPending(entry.processId);
  }

  gaveUp(entry: OutboxEntry, lastError: string): void {
    this.store.transaction(() => {
      this.event(entry.processId, 'send-failed', entry.messageType, null, null, { gaveUp: true, error: lastError });
      const p = this.repo.get(entry.processId);
      if (p && !this.machine(p.role).terminal.has(p.state)) this.giveUpLocally(p, `peer unreachable, gave up on ${entry.messageType}: ${lastError}`);
    });
  }

  /** End a process here without telling the peer (it cannot be reached or does not answer sensibly). */
  protected giveUpLocally(p: R, reason: string): void {
    this.repo.update(p.id, { ...this.ended(p, reason, undefined, true), state: 'TERMINATED' } as P);
    this.event(p.id, 'transition', null, p.state, 'TERMINATED', { reason });
  }

  // ---------------------------------------------------------------- helpers

  /** A peer-supplied address checked by the SSRF guard; a refusal is the peer's bad request. */
  protected checkAddress(address: string, field: string, pids: { providerPid?: string; consumerPid?: string }): string {
    try {
      return this.base.guard.checkUrl(address, field).toString().replace(/\/+$/, '');
    } catch (err) {
      if (err instanceof HedgerowError) throw new DspBadRequestError('ADDRESS_REFUSED', [err.message], pids);
      throw err;
    }
  }

  protected event(processId: string, kind: ProcessEventKind, messageType: string | null, from: string | null, to: string | null, detail?: unknown): void {
    this.store.processEvents.append({ processId, kind, messageType, fromState: from, toState: to, detail });
    if (to !== null && to !== from) this.onTransition(processId, to);
    if (this.base.audit && kind !== 'note') {
      const peer = kind === 'received' ? this.repo.get(processId)?.counterpartyId : undefined;
      this.base.audit.recordProcessEvent({ area: this.kind, processId, kind, messageType, from, to, detail, ...(peer ? { peer } : {}) });
    }
  }
}

export function claimsOf(peer: VerifiedPeer): Record<string, string> {
  const claims: Record<string, string> = {};
  if (peer.organization) claims.organization = peer.organization;
  if (peer.country) claims.country = peer.country;
  return claims;
}

/** A peer's reasons as we keep them (timeline, audit, error): at most 5 of at most 500 characters each. */
function reasonsOf(body: unknown): string[] {
  const reason = (body as Json | null)?.reason;
  return Array.isArray(reason) ? reason.slice(0, 5).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)).slice(0, 500)) : [];
}

/** What of a received message goes into the timeline (reasons, codes, offer and agreement ids). */
function messageDetail(msg: Json): Json | undefined {
  const d: Json = {};
  if (msg.code !== undefined) d.code = typeof msg.code === 'string' ? msg.code.slice(0, 200) : msg.code;
  if (Array.isArray(msg.reason)) d.reasons = reasonsOf(msg);
  if (msg.offer && typeof msg.offer === 'object') d.offer = (msg.offer as Json)['@id'];
  if (msg.agreement && typeof msg.agreement === 'object') d.agreement = (msg.agreement as Json)['@id'];
  if (msg.eventType) d.eventType = msg.eventType;
  if (msg.agreementId) d.agreementId = msg.agreementId;
  if (msg.format) d.format = msg.format;
  return Object.keys(d).length ? d : undefined;
}
