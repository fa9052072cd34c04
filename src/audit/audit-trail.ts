/**
 * The audit trail (the clearing-house pattern, kept locally and authoritative): an append-only, hash-chained log in
 * SQLite (`audit_log`, schema version 4, whose triggers refuse UPDATE and DELETE) and signatures over its head
 * (`audit_heads`) made with the connector key, periodically when the head moved and on every export.
 *
 * `append` is synchronous and joins the caller's SQLite transaction: the entry commits or rolls back together with
 * the state change it records (a transition that is not audited does not happen). Called outside a transaction, it
 * opens its own IMMEDIATE one, so reading the previous hash and inserting the next entry can never interleave with
 * another writer.
 */
import { X509Certificate } from 'node:crypto';
import type { Store } from '../store/store';
import type { ProcessEventKind } from '../store/repositories/process-events';
import type { AuditFilter, SignedHeadRow } from '../store/repositories/audit';
import type { Logger } from '../log/logger';
import { HedgerowError, NotFoundError, describeError } from '../errors';
import { certificateToPem } from '../pki';
import { canonicalJson } from './canonical-json';
import { GENESIS_HASH, entryHashOfCanonicalDetail, type AuditEntry } from './chain';
import { AUDIT_EVENTS, isAuditEventName, type AuditEventName } from './events';
import { auditSafe, type JsonValue } from './redact';
import { signHeadJws, type HeadSigningKey } from './head-signature';
import { BUNDLE_FORMAT, HASHING_DESCRIPTION, type AuditBundle } from './bundle';
import { verifyDatabase, type AuditReport } from './verify';

export interface AuditAppend {
  /** Agreement, negotiation or transfer id the entry is about. */
  processId?: string | null;
  /** Participant id, 'operator', 'system', or for unauthenticated requests 'anonymous'. */
  actor: string;
  event: AuditEventName;
  /** Decision traces, reasons, counts: made JSON-safe and redacted (never tokens or keys). */
  detail?: unknown;
}

export interface AuditTrailOptions {
  store: Store;
  /** Our participant id: the actor of what this connector itself does. */
  self?: () => string;
  /** The connector key, chain and DID key id, for signing heads. */
  signingKey?: () => Promise<HeadSigningKey> | HeadSigningKey;
  /** Trust anchors signed heads are checked against (the connector's). */
  anchors?: () => X509Certificate[];
  /** Certificates trusted as they are (the connector's own): heads it signed verify even without its CA as anchor. */
  pinned?: () => X509Certificate[];
  logger?: Logger;
  now?: () => Date;
}

/** Unauthenticated requests cost a disk write each; above this rate they are counted, not written one by one. */
const AUTH_FAILURES_PER_SECOND = 10;

export class AuditTrail {
  private readonly now: () => Date;
  private authWindow = { start: 0, written: 0, suppressed: 0 };

  constructor(private readonly opts: AuditTrailOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  private get repo() {
    return this.opts.store.audit;
  }

  private self(): string {
    try {
      return this.opts.self?.() ?? 'system';
    } catch {
      return 'system';
    }
  }

  /** Append one entry (seq = previous + 1, hash chained to the previous). Synchronous; joins the caller's transaction. */
  append(input: AuditAppend): AuditEntry {
    const store = this.opts.store;
    if (!store.db.inTransaction) return store.transaction(() => this.append(input));
    if (!isAuditEventName(input.event)) throw new HedgerowError('AUDIT_EVENT_UNKNOWN', `unknown audit event ${String(input.event)} (see src/audit/events.ts)`);
    if (typeof input.actor !== 'string' || !input.actor) throw new HedgerowError('AUDIT_ACTOR_MISSING', 'an audit entry needs an actor');
    const last = this.repo.last();
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const detail = auditSafe(input.detail ?? {});
    const content = { seq, at: this.now().toISOString(), processId: input.processId ?? null, actor: input.actor.slice(0, 500), event: input.event, detail };
    const detailJcs = canonicalJson(detail);
    const hash = entryHashOfCanonicalDetail(prevHash, content, detailJcs);
    this.repo.insert({ ...content, detail: detailJcs, prevHash, hash });
    return { ...content, prevHash, hash };
  }

  /** The current head: seq and hash of the last entry (seq 0 and the genesis hash for an empty log). */
  head(): { seq: number; hash: string } {
    return this.repo.last() ?? { seq: 0, hash: GENESIS_HASH };
  }

  // ---------------------------------------------------------------- what the connector records

  /** A timeline event of a negotiation or transfer (src/process/process-service.ts); notes are not audited. */
  recordProcessEvent(e: {
    area: 'contract negotiation' | 'transfer process';
    processId: string;
    kind: ProcessEventKind;
    messageType: string | null;
    from: string | null;
    to: string | null;
    detail?: unknown;
    /** The verified counterparty, for messages received. */
    peer?: string;
  }): void {
    if (e.kind === 'note') return;
    const area = e.area === 'transfer process' ? 'transfer' : 'negotiation';
    if (e.kind === 'decision') {
      const d = e.detail && typeof e.detail === 'object' && !Array.isArray(e.detail) ? (e.detail as Record<string, unknown>) : { detail: e.detail };
      this.append({ processId: e.processId, actor: this.self(), event: 'policy.decision', detail: { process: area, ...(e.from ? { state: e.from } : {}), ...d } });
      return;
    }
    const detail: Record<string, unknown> = {};
    if (e.messageType) detail.message = e.messageType;
    if (e.from) detail.from = e.from;
    if (e.to) detail.to = e.to;
    if (e.detail !== undefined) detail.detail = e.detail;
    const actor = e.kind === 'received' ? (e.peer ?? 'unknown peer') : this.self();
    this.append({ processId: e.processId, actor, event: `${area}.${e.kind}` as AuditEventName, detail });
  }

  /**
   * A refused peer or data token: area, reason code, method, path, remote address; never the token. Written at most
   * AUTH_FAILURES_PER_SECOND times a second, further ones are counted into the next entry (`suppressedBefore`) or
   * a summary written with the next head signature. Never throws.
   */
  authFailure(detail: { area: string; reason: string; method?: string; path?: string; remote?: string }): void {
    const nowMs = this.now().getTime();
    const w = this.authWindow;
    if (nowMs - w.start >= 1000) {
      w.start = nowMs;
      w.written = 0;
    }
    if (w.written >= AUTH_FAILURES_PER_SECOND) {
      w.suppressed++;
      return;
    }
    w.written++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    this.safely('auth failure', () => this.append({ actor: 'anonymous', event: 'auth.failure', detail: { ...detail, ...(suppressed ? { suppressedBefore: suppressed } : {}) } }), () => (w.suppressed += suppressed + 1));
  }

  /** Write the count of auth failures not written individually (called before a head is signed). */
  flushAuthFailures(): void {
    const n = this.authWindow.suppressed;
    if (!n) return;
    this.authWindow.suppressed = 0;
    this.safely('auth failure summary', () => this.append({ actor: 'anonymous', event: 'auth.failure', detail: { area: 'summary', reason: 'RATE_LIMITED_RECORDING', suppressed: n } }), () => (this.authWindow.suppressed += n));
  }

  /** One data request of the data plane, after its response finished (own transaction). Never throws. */
  dataAccess(detail: {
    transferId: string | null;
    agreementId?: string | null;
    consumerId?: string | null;
    method: string;
    status: number;
    bytes?: number;
    range?: { start: number; end: number } | null;
    complete?: boolean;
    aborted?: string;
    code?: string;
  }): void {
    const { transferId, consumerId, ...rest } = detail;
    this.safely('data access', () => this.append({ processId: transferId, actor: consumerId ?? 'anonymous', event: 'data.access', detail: { transferId, ...rest } }));
  }

  private safely(what: string, write: () => unknown, onError?: () => void): void {
    try {
      write();
    } catch (err) {
      onError?.();
      this.opts.logger?.error(`audit: cannot record ${what}`, { error: describeError(err) });
    }
  }

  // ---------------------------------------------------------------- signed heads

  /**
   * Sign the head at `seq` (default: the current head) with the connector key and store the signature. An existing
   * signature of that seq is returned as it is (nothing written).
   */
  async signHead(seq?: number): Promise<SignedHeadRow> {
    const target = seq === undefined ? this.repo.last() : this.repo.get(seq);
    if (!target) throw new NotFoundError(seq === undefined ? 'the audit log is empty: there is no head to sign' : `audit entry ${seq} not found`, 'AUDIT_ENTRY_NOT_FOUND');
    const existing = this.repo.headAt(target.seq);
    if (existing && existing.hash === target.hash) return existing;
    if (!this.opts.signingKey) throw new HedgerowError('AUDIT_NO_KEY', 'no connector key to sign the audit head with');
    const key = await this.opts.signingKey();
    const signedAt = this.now().toISOString();
    const jws = await signHeadJws(key, { seq: target.seq, hash: target.hash, at: signedAt, participantId: key.participantId });
    const row = { seq: target.seq, hash: target.hash, signedAt, jws };
    this.opts.store.transaction(() => this.repo.insertHead(row));
    return this.repo.headAt(target.seq) ?? row;
  }

  /**
   * The periodic signature: only when entries were appended since the last signed head. An idle connector reads two
   * rows and writes nothing.
   */
  async signHeadIfChanged(): Promise<SignedHeadRow | null> {
    this.flushAuthFailures();
    const last = this.repo.last();
    if (!last) return null;
    const signed = this.repo.lastHead();
    if (signed && signed.seq >= last.seq) return null;
    return this.signHead(last.seq);
  }

  // ---------------------------------------------------------------- verification and export

  verify(opts: { anchors?: X509Certificate[] | null; participantId?: string | null } = {}): Promise<AuditReport> {
    const anchors = opts.anchors !== undefined ? opts.anchors : (this.opts.anchors?.() ?? null);
    const participantId = opts.participantId !== undefined ? opts.participantId : this.opts.self ? this.self() : null;
    const pinned = this.opts.pinned?.() ?? [];
    return verifyDatabase(this.repo, { anchors, pinned, participantId, yieldBetweenPages: true });
  }

  /**
   * A signed bundle of the entries matching the filter: the contiguous seq range from the first to the last match
   * (so the chain can be checked, from the prevHash of the first), a head signed over the last entry, the stored
   * signatures inside the range, and the signer's certificate chain.
   */
  async exportBundle(filter: AuditFilter = {}): Promise<AuditBundle> {
    const matched = this.repo.matching(filter);
    if (matched.length === 0) throw new NotFoundError('no audit entries match', 'AUDIT_NO_ENTRIES');
    const first = matched[0]!;
    const last = matched[matched.length - 1]!;
    const head = await this.signHead(last);
    const rows = this.repo.between(first, last);
    const entries: AuditEntry[] = rows.map((r) => ({ seq: r.seq, at: r.at, processId: r.processId, actor: r.actor, event: r.event, detail: JSON.parse(r.detail) as JsonValue, prevHash: r.prevHash, hash: r.hash }));
    const checkpoints = this.repo.headsBetween(first, last - 1);
    const { chain, participantId } = chainOfJws(head.jws);
    return {
      format: BUNDLE_FORMAT,
      exportedAt: this.now().toISOString(),
      participantId,
      hashing: HASHING_DESCRIPTION,
      selection: {
        from: filter.from ?? null,
        to: filter.to ?? null,
        processId: filter.processId ?? null,
        matched: matched.length,
        ...(matched.length !== entries.length ? { seqs: matched } : {}),
      },
      entries,
      head,
      checkpoints,
      certificateChain: chain.map(certificateToPem).join(''),
    };
  }

  /** The documented event names (for the API and the README). */
  static readonly events = AUDIT_EVENTS;
}

/** The x5c chain and participant id a signed head carries (the head was just made or read from our own table). */
function chainOfJws(jws: string): { chain: X509Certificate[]; participantId: string } {
  const [h, p] = jws.split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { x5c?: string[] };
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as { participantId: string };
  return { chain: (header.x5c ?? []).map((b) => new X509Certificate(Buffer.from(b, 'base64'))), participantId: payload.participantId };
}
