import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { NextFunction, Request, Response, Router } from 'express';
import { expressLib } from '../lazy';
import type { Store } from '../store/store';
import type { Logger } from '../log/logger';
import type { AgreementRecord } from '../store/repositories/agreements';
import type { Transfer } from '../store/repositories/transfers';
import type { OutboxEntry } from '../store/repositories/outbox';
import type { BatchCursor } from '../store/repositories/sql';
import type { IdentityHolder } from '../server/identity-holder';
import type { PeerVerifier } from '../identity/peer-token';
import type { TransferService } from '../transfer/transfer-service';
import type { FactProvider } from './facts';
import { evaluate, type Duty, type OdrlPolicy } from '../policy';
import { declaredPurpose } from './purpose';
import { joseLib } from '../lazy';
import { jwsAlgorithmFor, validateChain } from '../pki';
import { AuthenticationError, HedgerowError, describeError } from '../errors';
import { errorBody, toHttpError } from '../server/errors';
import { DSP_BASE_PATH } from '../protocol/dsp/paths';
import type { AuditEventName } from '../audit/events';

type Json = Record<string, unknown>;

/** Outbox message types owned by usage control (not DSP messages: hedgerow-to-hedgerow extensions). */
export const USAGE_NOTIFICATION = 'UsageNotification';
export const DELETION_RECEIPT = 'DeletionReceipt';
export const RECEIPTS_PATH = '/usage/deletion-receipts';
const RECEIPT_TYPE = 'hedgerow-deletion-receipt+jwt';

/** A granted, revoked or expired consent, as the consent registry reports it. */
export interface ConsentChange {
  id: string;
  originator: string;
  beneficiary: string;
  purpose: string;
  category?: string | null;
  status: string;
}

/** Rows a pass (policy monitor, consent ended) takes at a time; it yields to the event loop between batches. */
export const PASS_BATCH = 500;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Stored for a deletion that is never due: ISO strings of years past 9999 start with "+" and would sort before today. */
const NEVER_DUE = '9999-12-31T23:59:59.999Z';

/** When a delete duty falls due, as stored (due_at is compared as text). */
export function deletionDueAt(duty: Duty): string {
  if (duty.deadline) {
    const ms = Date.parse(duty.deadline);
    return ms < Date.parse(NEVER_DUE) ? new Date(ms).toISOString() : NEVER_DUE;
  }
  // The engine computes the deadline from the agreement time; `within` without one means the sum left the Date range.
  return duty.within ? NEVER_DUE : new Date().toISOString();
}

/**
 * Usage control after the handshake.
 * Provider: a policy monitor that ends transfers whose agreement no longer allows them (time window
 * over, consent revoked), agreement revocation when a consent it depends on is revoked, and the
 * endpoint that receives signed deletion receipts.
 * Consumer: the duties of received data: `log` (audit), `notify` (a message to the provider-given
 * URL per use, through the durable outbox), `delete` (received copies deleted on time, across
 * restarts, idempotently, then a receipt signed with our key sent to the provider).
 */
export class UsageControl {
  private monitorTimer: NodeJS.Timeout | undefined;
  private deletionTimer: NodeJS.Timeout | undefined;
  /** The policy monitor's pass in progress: a timer tick during a long pass does not start a second one. */
  private monitoring: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: {
      store: Store;
      facts: FactProvider;
      transfers: TransferService;
      identity: IdentityHolder;
      peers: PeerVerifier;
      anchors: () => X509Certificate[];
      giveUpMs: number;
      kick: () => void;
      monitorSeconds: number;
      logger: Logger;
      /** Audit hook (the audit trail); called inside the caller's transaction. */
      audit?: (entry: { processId?: string; actor: string; event: AuditEventName; detail: Json }) => void;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.monitorTimer = setInterval(() => void this.monitor().catch((err: unknown) => this.deps.logger.error('policy monitor failed', { error: describeError(err) })), this.deps.monitorSeconds * 1000);
    this.monitorTimer.unref();
    this.scheduleDeletions();
  }

  /** Stops the timers; a pass in progress ends after its current batch. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.monitorTimer);
    clearTimeout(this.deletionTimer);
  }

  private audit(processId: string | undefined, event: AuditEventName, detail: Json, actor = 'system'): void {
    this.deps.audit?.({ processId, actor, event, detail });
  }

  // ------------------------------------------------------------------ provider

  /**
   * Re-evaluate every running provider transfer (reads only; writes only when ending one). A
   * transfer whose agreement no longer allows it is terminated with the reason: this is how a
   * `dateTime` window that closes, or an expired consent, stops a running pull. One pass covers every
   * STARTED transfer, oldest first, in batches of PASS_BATCH with a turn of the event loop between them
   * (so a backlog after a long power cut neither waits for the next interval nor starves requests); a
   * transfer that cannot be checked is logged and passed over. Resolves to the number of transfers ended.
   */
  monitor(): Promise<number> {
    this.monitoring ??= this.monitorPass().finally(() => (this.monitoring = undefined));
    return this.monitoring;
  }

  private monitorPass(): Promise<number> {
    return this.pass(
      (after) => this.deps.store.transfers.batch({ role: 'provider', state: 'STARTED' }, PASS_BATCH, after),
      (t) => ({ at: t.createdAt, id: t.id }),
      (t) => this.recheck(t),
      (t, err) => this.deps.logger.error('policy monitor: checking a transfer failed', { transfer: t.id, error: describeError(err) }),
    );
  }

  /**
   * One pass over rows fetched in batches of PASS_BATCH, each batch strictly after the last row of the one
   * before: `visit` every row (a row it throws on goes to `failed` and is passed over), then a turn of the
   * event loop before the next batch; ends after a batch that was not full, or early once stopped.
   * Resolves to the number of rows `visit` acted on (returned true for).
   */
  private async pass<T>(fetch: (after: BatchCursor | undefined) => T[], cursorOf: (row: T) => BatchCursor, visit: (row: T) => boolean, failed: (row: T, err: unknown) => void): Promise<number> {
    let acted = 0;
    let after: BatchCursor | undefined;
    for (;;) {
      const batch = fetch(after);
      for (const row of batch) {
        try {
          if (visit(row)) acted++;
        } catch (err) {
          failed(row, err);
        }
      }
      if (batch.length < PASS_BATCH) return acted;
      after = cursorOf(batch[batch.length - 1]!);
      await nextTurn();
      if (this.stopped) return acted;
    }
  }

  /** Ends `t` when its agreement no longer allows it now; true when it did. */
  private recheck(t: Transfer): boolean {
    const agreement = this.deps.store.agreements.get(t.agreementId, 'provider');
    if (!agreement) return false;
    const reason =
      agreement.status !== 'active'
        ? `agreement ${agreement.id} is ${agreement.status}${agreement.statusReason ? `: ${agreement.statusReason}` : ''}`
        : (() => {
            // The count is checked on access; the monitor only asks whether the agreement still holds now.
            const facts = { ...this.deps.facts.underAgreement(agreement), usageCount: 0 };
            const d = evaluate(agreement.agreement as unknown as OdrlPolicy, { scope: 'transfer', facts });
            // Only denials are recorded: the monitor re-checks every minute and allowances change nothing.
            if (!d.allowed) this.audit(t.id, 'policy.decision', { scope: 'transfer', monitor: true, allowed: false, reason: d.reason, trace: d.trace as unknown as Json });
            return d.allowed ? null : d.reason;
          })();
    if (!reason) return false;
    this.deps.transfers.terminateForDataPlane(t.id, 'POLICY_DENIED', reason);
    return true;
  }

  /** Revoke an agreement and end its running transfers at once (tokens stop working on the next request). */
  revokeAgreement(agreement: AgreementRecord, reason: string): void {
    this.deps.store.transaction(() => {
      this.deps.store.agreements.setStatus(agreement.id, agreement.role, 'revoked', reason);
      this.audit(agreement.id, 'agreement.status', { status: 'revoked', reason });
    });
    for (const t of this.deps.store.transfers.liveForAgreement(agreement.id)) {
      if (t.role === 'provider') this.deps.transfers.terminateForDataPlane(t.id, 'AGREEMENT_REVOKED', reason);
    }
  }

  /**
   * A consent was revoked or expired: every provider agreement for that originator's data, with
   * that beneficiary, that depends on consent (and was bound to that purpose) is revoked. Goes through
   * all of the beneficiary's active agreements in batches of PASS_BATCH, yielding between them; one
   * that cannot be revoked is logged and passed over. Resolves to the number revoked.
   */
  consentEnded(consent: ConsentChange): Promise<number> {
    return this.pass(
      (after) => this.deps.store.agreements.batch({ role: 'provider', status: 'active', consumerId: consent.beneficiary }, PASS_BATCH, after),
      (a) => ({ at: a.signedAt, id: a.id }),
      (a) => {
        if (!this.dependsOn(a, consent)) return false;
        this.revokeAgreement(a, `consent ${consent.id} of ${consent.originator} for ${consent.purpose} was ${consent.status}`);
        return true;
      },
      (a, err) => this.deps.logger.error('revoking an agreement after its consent ended failed', { agreement: a.id, consent: consent.id, error: describeError(err) }),
    );
  }

  /** Whether agreement `a` (with the consent's beneficiary) needs that consent. */
  private dependsOn(a: AgreementRecord, consent: ConsentChange): boolean {
    if (a.consumerId !== consent.beneficiary) return false;
    if (this.deps.store.assets.get(a.assetId)?.originator !== consent.originator) return false;
    if (!JSON.stringify(a.agreement).includes('"consent"')) return false;
    const purpose = declaredPurpose(a.agreement);
    return !purpose || purpose === consent.purpose;
  }

  /** POST /usage/deletion-receipts: a consumer proves it deleted our data (peer token + signed receipt). */
  router(): Router {
    const router = expressLib().Router();
    router.post(RECEIPTS_PATH, expressLib().json({ limit: '64kb' }), async (req: Request, res: Response, next: NextFunction) => {
      try {
        const peer = await this.deps.peers.verify(req.get('authorization'), { audience: this.deps.identity.current.participantId });
        const jws = (req.body as Json | undefined)?.receipt;
        if (typeof jws !== 'string') throw new HedgerowError('RECEIPT_MISSING', 'body must be {"receipt": "<compact JWS>"}', { httpStatus: 400 });
        const claims = await this.verifyReceipt(jws, peer.participantId);
        const agreement = this.deps.store.agreements.get(claims.agreementId, 'provider');
        if (!agreement || agreement.consumerId !== peer.participantId) throw new HedgerowError('NOT_FOUND', 'no such agreement with you', { httpStatus: 404 });
        this.deps.store.transaction(() => {
          const stored = this.deps.store.deletionReceipts.add({ id: claims.receiptId, agreementId: agreement.id, transferId: claims.transferId, consumerId: peer.participantId, receipt: jws });
          if (stored) this.audit(agreement.id, 'deletion.receipt', { receiptId: claims.receiptId, transferId: claims.transferId, deletedAt: claims.deletedAt }, peer.participantId);
        });
        res.status(201).json({ received: claims.receiptId });
      } catch (err) {
        next(err);
      }
    });
    router.use(RECEIPTS_PATH, (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const { status, body } = toHttpError(err);
      res.status(status).json(status >= 500 ? errorBody('INTERNAL', 'internal error') : body);
    });
    return router;
  }

  /** A receipt is a JWS by the consumer's certificate key (x5c, chain to our anchors, SAN = the peer). */
  private async verifyReceipt(jws: string, participantId: string): Promise<{ receiptId: string; agreementId: string; transferId: string | null; deletedAt: string }> {
    try {
      return await this.checkReceipt(jws, participantId);
    } catch (err) {
      // A malformed certificate, an untrusted chain, a bad signature or a payload that is not JSON: the peer's fault, never a 500.
      if (err instanceof AuthenticationError) throw err;
      throw new AuthenticationError(`receipt rejected: ${describeError(err)}`, 'RECEIPT_INVALID');
    }
  }

  private async checkReceipt(jws: string, participantId: string): Promise<{ receiptId: string; agreementId: string; transferId: string | null; deletedAt: string }> {
    const jose = joseLib();
    let header;
    try {
      header = jose.decodeProtectedHeader(jws);
    } catch {
      throw new AuthenticationError('receipt is not a JWS', 'RECEIPT_INVALID');
    }
    const x5c = Array.isArray(header.x5c) ? header.x5c.map((b) => new X509Certificate(Buffer.from(String(b), 'base64'))) : [];
    if (!x5c.length || header.typ !== RECEIPT_TYPE) throw new AuthenticationError('receipt header lacks typ or x5c', 'RECEIPT_INVALID');
    validateChain(x5c, { anchors: this.deps.anchors() });
    if (!x5c[0]!.subjectAltName?.includes(`URI:${participantId}`)) throw new AuthenticationError('receipt signed by another participant', 'RECEIPT_INVALID');
    const { payload } = await jose.compactVerify(jws, x5c[0]!.publicKey, { algorithms: ['ES256', 'PS256'] });
    const claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Json;
    if (typeof claims.agreementId !== 'string' || typeof claims.receiptId !== 'string') throw new AuthenticationError('receipt claims incomplete', 'RECEIPT_INVALID');
    return { receiptId: claims.receiptId, agreementId: claims.agreementId, transferId: (claims.transferId as string) ?? null, deletedAt: String(claims.deletedAt) };
  }

  // ------------------------------------------------------------------ consumer

  /** Duties of an agreement we hold as consumer (usage scope), for one use. */
  private consumerDuties(agreement: AgreementRecord): Duty[] {
    // Consent lives in the provider's registry: the provider enforces it on every access; here we only
    // need the duties, so the consent condition is taken as met.
    const facts = { now: new Date(), participantId: agreement.consumerId, agreementTime: new Date(agreement.signedAt), purpose: declaredPurpose(agreement.agreement), consent: true };
    return evaluate(agreement.agreement as unknown as OdrlPolicy, { scope: 'usage', facts }).duties;
  }

  /** Where the provider's hedgerow extensions live: its DSP base without the version path. */
  private providerRoot(t: Transfer): string | null {
    const base = t.counterpartyAddress?.replace(/\/+$/, '');
    return base?.endsWith(DSP_BASE_PATH) ? base.slice(0, -DSP_BASE_PATH.length) : null;
  }

  /** A copy of the data arrived at `path` (consumer): perform log and notify duties, schedule deletion. */
  received(t: Transfer, path: string | null, detail: { bytes: number; sha256: string }): void {
    const agreement = this.deps.store.agreements.get(t.agreementId, 'consumer');
    if (!agreement) return;
    const duties = this.consumerDuties(agreement);
    this.deps.store.transaction(() => {
      for (const duty of duties) {
        if (duty.action === 'log') this.audit(t.id, 'duty.log', { agreementId: agreement.id, use: 'received', ...detail });
        if (duty.action === 'notify' && duty.recipient) {
          this.audit(t.id, 'duty.notify', { agreementId: agreement.id, recipient: duty.recipient, use: 'received' });
          this.deps.store.outbox.enqueue({
            processId: t.id,
            messageType: USAGE_NOTIFICATION,
            url: duty.recipient,
            audience: agreement.providerId,
            body: { '@type': USAGE_NOTIFICATION, agreementId: agreement.id, transferId: t.providerPid, use: 'received', bytes: detail.bytes, sha256: detail.sha256, at: new Date().toISOString() },
            giveUpAt: Date.now() + this.deps.giveUpMs,
          });
        }
        if (duty.action === 'delete' && path) {
          const dueAt = deletionDueAt(duty);
          const root = this.providerRoot(t);
          this.deps.store.deletionDuties.add({
            id: crypto.randomUUID(),
            agreementId: agreement.id,
            transferId: t.id,
            path,
            dueAt,
            providerId: agreement.providerId,
            receiptUrl: root ? `${root}${RECEIPTS_PATH}` : null,
          });
          this.audit(t.id, 'duty.delete', { agreementId: agreement.id, dueAt });
        }
      }
    });
    this.deps.kick();
    this.scheduleDeletions();
  }

  /** The provider ended our transfer or agreement: copies under a delete duty are deleted now. */
  ended(t: Transfer): void {
    if (t.role !== 'consumer') return;
    const n = this.deps.store.transaction(() => this.deps.store.deletionDuties.dueNow(t.agreementId));
    if (n) this.scheduleDeletions();
  }

  /** Wake at the next due deletion (a timer, no polling); restarts find the rows again. */
  scheduleDeletions(): void {
    clearTimeout(this.deletionTimer);
    const next = this.deps.store.deletionDuties.nextDueAt();
    if (!next) return;
    const delay = Math.max(0, Math.min(Date.parse(next) - Date.now(), 2 ** 31 - 1));
    this.deletionTimer = setTimeout(() => void this.runDeletions(), delay);
    this.deletionTimer.unref();
  }

  /** Delete due copies (missing files count as deleted: idempotent), then send signed receipts. */
  async runDeletions(): Promise<number> {
    let done = 0;
    for (const duty of this.deps.store.deletionDuties.due(new Date().toISOString())) {
      try {
        fs.rmSync(duty.path, { force: true });
      } catch (err) {
        this.deps.logger.error('delete duty failed, will retry', { duty: duty.id, error: describeError(err) });
        continue;
      }
      const receipt = await this.signReceipt(duty.id, duty.agreementId, this.deps.store.transfers.get(duty.transferId)?.providerPid ?? null);
      this.deps.store.transaction(() => {
        if (!this.deps.store.deletionDuties.markDeleted(duty.id)) return;
        this.audit(duty.transferId, 'deletion.done', { agreementId: duty.agreementId, dutyId: duty.id });
        if (duty.receiptUrl) {
          this.audit(duty.transferId, 'deletion.receipt', { agreementId: duty.agreementId, dutyId: duty.id, sentTo: duty.receiptUrl });
          this.deps.store.outbox.enqueue({
            processId: duty.transferId,
            messageType: DELETION_RECEIPT,
            url: duty.receiptUrl,
            audience: duty.providerId,
            body: { receipt },
            giveUpAt: Date.now() + this.deps.giveUpMs,
          });
        }
      });
      done++;
    }
    this.deps.kick();
    this.scheduleDeletions();
    return done;
  }

  private async signReceipt(receiptId: string, agreementId: string, transferId: string | null): Promise<string> {
    const id = this.deps.identity.current;
    const payload = { receiptId, agreementId, transferId, consumer: id.participantId, deletedAt: new Date().toISOString() };
    return new (joseLib().CompactSign)(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: jwsAlgorithmFor(id.privateKey), typ: RECEIPT_TYPE, x5c: id.chain.map((c) => c.raw.toString('base64')) })
      .sign(id.privateKey);
  }

  // ------------------------------------------------------------------ outbox outcomes (notifications, receipts)

  async prepare(entry: OutboxEntry): Promise<OutboxEntry> {
    return entry;
  }

  delivered(entry: OutboxEntry): void {
    this.deps.store.processEvents.append({ processId: entry.processId, kind: 'sent', messageType: entry.messageType, fromState: null, toState: null, detail: { url: entry.url } });
  }

  rejected(entry: OutboxEntry, response: { status: number }): void {
    this.deps.store.processEvents.append({ processId: entry.processId, kind: 'send-failed', messageType: entry.messageType, fromState: null, toState: null, detail: { status: response.status } });
  }

  gaveUp(entry: OutboxEntry, lastError: string): void {
    this.deps.store.processEvents.append({ processId: entry.processId, kind: 'send-failed', messageType: entry.messageType, fromState: null, toState: null, detail: { gaveUp: true, error: lastError } });
  }
}
