/**
 * The farmer consent registry: a cooperative shares a member farm's data only with that farmer's consent,
 * only with the named beneficiary, only for the agreed purpose, and only while the consent is granted and
 * valid.
 *
 * - `request` creates a pending consent and a one-time approval link on the PUBLIC listener
 *   (`<publicUrl>/consent/<token>`); only the SHA-256 of the token is stored, and the link works until
 *   the earlier of `validUntil` and 30 days (by default) after the request.
 * - `grant`, `refuse`, `revoke` follow the transition table of ./status.ts; every change is one
 *   transaction with its history row (who, when, note).
 * - Expiry is time-based: pending consents whose link ran out and granted consents past `validUntil`
 *   become `expired`, when read (`get`, `list`, any change) or by a timer scheduled at the next deadline,
 *   whose pass records every due consent in batches of 500 with a turn of the event loop between them
 *   (a box back from a long outage catches up in one pass without starving requests).
 *   Nothing is written while nothing is due.
 * - `consentCheck(beneficiary, originator)` is the function the policy engine calls for a `consent`
 *   constraint; it never writes and checks the validity window itself, so an expiry is effective at once
 *   even before the timer has recorded it.
 * - `onRevoked` listeners are called after the transaction that revoked or expired a GRANTED consent
 *   committed: dependent agreements and transfers must stop.
 */
import crypto from 'node:crypto';
import type { Store } from '../store/store';
import type { Consent, ConsentFilter, ConsentHistoryEntry, ConsentStatus } from '../store/repositories/consents';
import type { BatchCursor } from '../store/repositories/sql';
import { CONSENT_STATUSES } from '../store/repositories/consents';
import type { ConsentCheck, ConsentRequirement } from '../policy/types';
import type { Logger } from '../log/logger';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { checkConsentTransition, type ConsentAction } from './status';

export type { Consent, ConsentFilter, ConsentHistoryEntry, ConsentStatus } from '../store/repositories/consents';

/** Path of the farmer approval page on the public listener. */
export const CONSENT_PAGE_PATH = '/consent';
export const DEFAULT_APPROVAL_TTL_DAYS = 30;
/** Longest single timer sleep (timers are re-armed; guards against clock jumps and the 24.8-day setTimeout limit). */
const MAX_TIMER_MS = 3_600_000;
/** Due consents expired per batch; the timer's pass yields to the event loop between batches. */
export const EXPIRY_BATCH = 500;

export interface ConsentRequestInput {
  originator: string;
  category?: string | null;
  purpose: string;
  beneficiary: string;
  /** ISO 8601 date or date-time; date-only means 00:00 UTC. */
  validFrom?: string | null;
  validUntil?: string | null;
  /** Who asks (recorded in the history), e.g. `operator`. */
  actor: string;
  /** Optional note for the history. */
  note?: string;
}

/** A consent with its full status history. */
export interface ConsentDetail extends Consent {
  history: ConsentHistoryEntry[];
  /** While pending: until when the approval link can be used. Otherwise null. */
  approvalExpiresAt: string | null;
}

export interface ConsentRequestResult {
  consent: ConsentDetail;
  /** The one-time approval link for the originator. Shown once; only its hash is stored. */
  approvalUrl: string;
  approvalExpiresAt: string;
}

/** One committed status change. */
export interface ConsentChange {
  consentId: string;
  from: ConsentStatus | null;
  to: ConsentStatus;
  actor: string;
  at: string;
  note: string | null;
}

export type RevocationListener = (consent: Consent, change: ConsentChange) => void | Promise<void>;

/** Who holds the data and asks on the originator's behalf: this connector's operator (the cooperative). */
export interface DataHolder {
  participantId: string;
  /** Human-readable name (legal name or certificate organisation), if known. */
  name?: string | null;
}

export interface ConsentServiceDeps {
  store: Store;
  /** Base URL of the public listener, e.g. https://coop.example:8443. */
  publicUrl: () => string;
  holder: () => DataHolder;
  logger?: Logger;
  /** Lifetime of an approval link (capped by the consent's validUntil); default 30 days. */
  approvalTtlDays?: number;
  /** Clock, for tests. */
  clock?: () => Date;
  /**
   * Called INSIDE the transaction of every change (request included), e.g. to append to the audit trail
   * atomically. Throwing rolls the change back.
   */
  recordChange?: (change: ConsentChange, consent: Consent) => void;
}

export interface ConsentCheckOptions {
  /** Evaluation instant (the request's `facts.now`); default: the clock at each call. */
  now?: Date;
  /** Category asked for when the requirement names none (e.g. the asset's data category). */
  category?: string | null;
}

/** What the approval page shows for a token. */
export type ApprovalView =
  | { state: 'open'; consent: ConsentDetail; holder: DataHolder; approvalExpiresAt: string }
  | { state: 'decided' | 'expired'; consent: ConsentDetail; holder: DataHolder; approvalExpiresAt: string };

const TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const sha256 = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** A required identifier-like text field: non-empty, bounded, no control characters. */
export function checkText(value: unknown, path: string, max: number, required = true): string | null {
  if (value === undefined || value === null) {
    if (required) throw new ValidationError('is required', path);
    return null;
  }
  if (typeof value !== 'string') throw new ValidationError('must be a string', path);
  if (value.trim() === '') throw new ValidationError('must not be empty', path);
  if (value.length > max) throw new ValidationError(`must be at most ${max} characters`, path);
  if (CONTROL.test(value)) throw new ValidationError('must not contain control characters', path);
  return value;
}

/** An ISO 8601 date or date-time with a time zone, normalised to `toISOString` form; null when absent. */
export function checkInstant(value: unknown, path: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !ISO_DATE.test(value) || Number.isNaN(Date.parse(value))) {
    throw new ValidationError('must be an ISO 8601 date (2027-06-30) or date-time with a time zone (2027-06-30T18:00:00Z)', path);
  }
  return new Date(Date.parse(value)).toISOString();
}

export class ConsentService {
  private readonly listeners = new Set<RevocationListener>();
  private readonly clock: () => Date;
  private readonly ttlSeconds: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Set by stop(): a pass in progress ends after its current batch. */
  private stopped = false;
  /** The timer's expiry pass in progress (it re-arms the timer when it ends). */
  private passing: Promise<void> | undefined;
  /** Incremented on every committed change: invalidates consentCheck caches. */
  private generation = 0;

  constructor(private readonly deps: ConsentServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.ttlSeconds = Math.round((deps.approvalTtlDays ?? DEFAULT_APPROVAL_TTL_DAYS) * 86_400);
  }

  private get repo() {
    return this.deps.store.consents;
  }

  // ---------------------------------------------------------------- requests and decisions

  /** Create a pending consent and its one-time approval link. */
  request(input: ConsentRequestInput): ConsentRequestResult {
    const originator = checkText(input.originator, '/originator', 500)!;
    const category = checkText(input.category, '/category', 200, false);
    const purpose = checkText(input.purpose, '/purpose', 500)!;
    const beneficiary = checkText(input.beneficiary, '/beneficiary', 500)!;
    const actor = checkText(input.actor, '/actor', 200)!;
    const validFrom = checkInstant(input.validFrom, '/validFrom');
    const validUntil = checkInstant(input.validUntil, '/validUntil');
    const now = this.clock();
    const at = now.toISOString();
    if (validUntil !== null && validUntil <= at) throw new ValidationError('must be in the future', '/validUntil');
    if (validUntil !== null && validFrom !== null && validUntil <= validFrom) throw new ValidationError('must be after validFrom', '/validUntil');

    const id = crypto.randomUUID();
    const token = `${id}.${crypto.randomBytes(32).toString('base64url')}`;
    const consent: Consent = { id, originator, category, purpose, beneficiary, validFrom, validUntil, status: 'pending', createdAt: at, updatedAt: at };
    const approvalExpiresAt = this.approvalDeadline(consent);
    const note = input.note ?? `approval link valid until ${approvalExpiresAt}`;
    const change: ConsentChange = { consentId: id, from: null, to: 'pending', actor, at, note };
    this.deps.store.transaction(() => {
      this.repo.insert({ ...consent, approvalHash: sha256(token) });
      this.repo.addHistory({ consentId: id, at, status: 'pending', actor, note });
      this.deps.recordChange?.(change, consent);
    });
    this.generation++;
    this.deps.logger?.info('consent requested', { consentId: id, originator, beneficiary, purpose, category, validUntil });
    this.schedule();
    return { consent: this.detail(consent), approvalUrl: `${this.deps.publicUrl().replace(/\/+$/, '')}${CONSENT_PAGE_PATH}/${token}`, approvalExpiresAt };
  }

  grant(id: string, actor: string, note?: string): ConsentDetail {
    return this.change(id, 'grant', actor, note);
  }

  refuse(id: string, actor: string, note?: string): ConsentDetail {
    return this.change(id, 'refuse', actor, note);
  }

  /** Revoke a granted consent; `onRevoked` listeners run once the revocation is committed. */
  revoke(id: string, actor: string, reason?: string): ConsentDetail {
    return this.change(id, 'revoke', actor, reason);
  }

  /**
   * Record the expiry of every consent whose time is up at `now` (history actor `system`), then notify
   * `onRevoked` listeners for the ones that were granted. Writes nothing when nothing is due. Synchronous,
   * for reads and changes that must see expired consents as expired; the timer uses `expireDueInBatches`.
   */
  expireDue(now: Date = this.clock()): Consent[] {
    const at = now.toISOString();
    const expired: Consent[] = [];
    let after: BatchCursor | undefined;
    do {
      const batch = this.expireBatch(at, after);
      expired.push(...batch.expired);
      after = batch.next;
    } while (after);
    return expired;
  }

  /**
   * The timer's pass: the same as `expireDue`, in batches of EXPIRY_BATCH consents with a turn of the event
   * loop between them, so that a backlog (a box that was off for a long time) is recorded in one pass
   * without starving requests. A consent whose expiry fails is logged and passed over (it stays due for
   * the next pass; `consentCheck` already treats it as expired). Stops early when the service is stopped.
   */
  async expireDueInBatches(now: Date = this.clock()): Promise<Consent[]> {
    const at = now.toISOString();
    const expired: Consent[] = [];
    let after: BatchCursor | undefined;
    for (;;) {
      const batch = this.expireBatch(at, after, (candidate, err) =>
        this.deps.logger?.error('consent expiry failed, retried on the next pass', { consentId: candidate.id, error: (err as Error).message }),
      );
      expired.push(...batch.expired);
      after = batch.next;
      if (!after) return expired;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.stopped) return expired;
    }
  }

  /**
   * Expire one batch of due consents after the cursor, each in its own transaction. Without `failed`, the
   * first failure is thrown (after the listeners of the ones already committed were notified). `next` is the
   * cursor for the following batch, or undefined when this batch was the last (not full).
   */
  private expireBatch(at: string, after: BatchCursor | undefined, failed?: (candidate: Consent, err: unknown) => void): { expired: Consent[]; next?: BatchCursor } {
    const due = this.repo.due(at, this.ttlSeconds, { limit: EXPIRY_BATCH, after });
    const done: Array<{ consent: Consent; change: ConsentChange }> = [];
    try {
      for (const candidate of due) {
        const note =
          candidate.status === 'granted'
            ? `validity ended at ${candidate.validUntil}`
            : `the approval link ran out at ${this.approvalDeadline(candidate)} without an answer`;
        try {
          const changed = this.deps.store.transaction(() => this.apply(candidate.id, 'expire', 'system', note, at, true));
          if (changed) done.push(changed);
        } catch (err) {
          if (!failed) throw err;
          failed(candidate, err);
        }
      }
    } finally {
      if (done.length) {
        this.generation++;
        for (const { consent, change } of done) this.afterCommit(consent, change);
        this.schedule();
      }
    }
    const last = due.length === EXPIRY_BATCH ? due[due.length - 1]! : undefined;
    return { expired: done.map((e) => e.consent), ...(last ? { next: { at: last.createdAt, id: last.id } } : {}) };
  }

  // ---------------------------------------------------------------- reads

  get(id: string): ConsentDetail | undefined {
    this.expireDue();
    const consent = this.repo.get(id);
    return consent ? this.detail(consent) : undefined;
  }

  list(filter: ConsentFilter = {}): Consent[] {
    if (filter.status !== undefined && !CONSENT_STATUSES.includes(filter.status)) throw new ValidationError(`must be one of ${CONSENT_STATUSES.join(', ')}`, 'query:/status');
    this.expireDue();
    return this.repo.list(filter);
  }

  /**
   * The `consent` fact for the policy engine, for a request by `beneficiary` on data of `originator`
   * (the asset's originator). The returned function answers a requirement `{ purpose?, category?,
   * originator? }` (the engine fills `purpose` from the request when the policy names none):
   * true only while a GRANTED consent exists with
   * - originator = `requirement.originator ?? originator` (when both are given they must be equal),
   * - beneficiary = `beneficiary`, purpose = `requirement.purpose` (no purpose: false),
   * - category: a consent without a category covers every category of the originator's data; one
   *   limited to a category covers only `requirement.category ?? opts.category` (the asset's) when that
   *   is the same category, never data of no stated category,
   * - validFrom <= now < validUntil (either open-ended when null).
   * One indexed lookup per distinct requirement; answers are cached for the same evaluation instant
   * until the next consent change, so a revocation is seen at once.
   */
  consentCheck(beneficiary: string, originator: string | null | undefined, opts: ConsentCheckOptions = {}): ConsentCheck {
    const cache = new Map<string, boolean>();
    let cacheGeneration = this.generation;
    return (requirement: ConsentRequirement): boolean => {
      const asked = requirement.originator;
      if (asked && originator && asked !== originator) return false;
      const who = asked || originator;
      const purpose = requirement.purpose;
      if (!who || !purpose || !beneficiary) return false;
      const category = requirement.category || opts.category || null;
      const now = (opts.now ?? this.clock()).toISOString();
      if (cacheGeneration !== this.generation) {
        cache.clear();
        cacheGeneration = this.generation;
      }
      const key = JSON.stringify([who, purpose, category, now]);
      let answer = cache.get(key);
      if (answer === undefined) {
        answer = this.repo.hasGranted({ originator: who, beneficiary, purpose, category, now });
        if (opts.now) cache.set(key, answer);
      }
      return answer;
    };
  }

  /**
   * Call `listener` after a GRANTED consent was revoked or expired (after the commit). Errors and
   * rejections of listeners are logged, never undo the change. Returns a function that unsubscribes.
   */
  onRevoked(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------- approval link

  /** What the approval page should show for `token`; undefined when the token is unknown or wrong. */
  approvalView(token: string): ApprovalView | undefined {
    const consent = this.byToken(token);
    if (!consent) return undefined;
    this.expireDue();
    const current = this.detail(this.repo.get(consent.id)!);
    const approvalExpiresAt = this.approvalDeadline(current);
    const holder = this.deps.holder();
    if (current.status === 'pending') return { state: 'open', consent: current, holder, approvalExpiresAt };
    const expiredUnanswered = current.status === 'expired' && current.history.every((h) => h.status !== 'granted');
    return { state: expiredUnanswered ? 'expired' : 'decided', consent: current, holder, approvalExpiresAt };
  }

  /**
   * The originator's answer through the approval link. Only a pending consent can be decided, once:
   * a second answer (replay, double submit) gets a ConflictError, an expired link one too.
   */
  decide(token: string, decision: 'grant' | 'refuse'): ConsentDetail {
    const consent = this.byToken(token);
    if (!consent) throw new NotFoundError('unknown or invalid approval link');
    return this.change(consent.id, decision, consent.originator, 'answered by the originator through the approval link');
  }

  // ---------------------------------------------------------------- timer

  /** Record what expired while the connector was down, then keep a timer on the next deadline. */
  start(): void {
    this.running = true;
    this.stopped = false;
    this.tick();
  }

  stop(): void {
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  // ---------------------------------------------------------------- internals

  /** Run an expiry pass unless one is still going (that one re-arms the timer when it ends). */
  private tick(): void {
    if (this.passing) return;
    this.passing = this.expireDueInBatches()
      .then(
        () => undefined,
        (err: unknown) => void this.deps.logger?.error('consent expiry failed', { error: (err as Error).message }),
      )
      .finally(() => {
        this.passing = undefined;
        this.schedule();
      });
  }

  /** Re-arm the timer at the next deadline (at most an hour ahead). */
  private schedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let next: string | null;
    try {
      next = this.repo.nextDeadline(this.ttlSeconds);
    } catch (err) {
      this.deps.logger?.error('consent expiry scheduling failed', { error: (err as Error).message });
      return;
    }
    if (next === null) return;
    const delay = Math.min(Math.max(Date.parse(next) - this.clock().getTime(), 0) + 5, MAX_TIMER_MS);
    this.timer = setTimeout(() => this.tick(), delay);
    this.timer.unref();
  }

  private byToken(token: string): Consent | undefined {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const stored = this.repo.approvalHash(m[1]!);
    if (!stored) return undefined;
    const given = Buffer.from(sha256(token), 'hex');
    const expected = Buffer.from(stored, 'hex');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return undefined;
    return this.repo.get(m[1]!);
  }

  /** Until when the approval link of `c` works: the earlier of validUntil and createdAt + TTL. */
  private approvalDeadline(c: Consent): string {
    const byTtl = new Date(Date.parse(c.createdAt) + this.ttlSeconds * 1000).toISOString();
    return c.validUntil !== null && c.validUntil < byTtl ? c.validUntil : byTtl;
  }

  private detail(c: Consent): ConsentDetail {
    return { ...c, history: this.repo.history(c.id), approvalExpiresAt: c.status === 'pending' ? this.approvalDeadline(c) : null };
  }

  private change(id: string, action: ConsentAction, actor: string, note?: string): ConsentDetail {
    checkText(actor, '/actor', 500);
    if (note !== undefined) checkText(note, '/reason', 1000);
    this.expireDue(); // a consent whose time is up is expired before anyone can act on it
    const done = this.deps.store.transaction(() => this.apply(id, action, actor, note ?? null, this.clock().toISOString(), false))!;
    this.generation++;
    this.deps.logger?.info(`consent ${done.change.to}`, { consentId: id, actor, from: done.change.from, note: done.change.note });
    this.afterCommit(done.consent, done.change);
    this.schedule();
    return this.detail(done.consent);
  }

  /**
   * One status change with its history row; run inside a transaction. With `lenient`, a consent that is
   * no longer in a state allowing `action` (changed concurrently) is skipped (undefined) instead of refused.
   */
  private apply(id: string, action: ConsentAction, actor: string, note: string | null, at: string, lenient: boolean): { consent: Consent; change: ConsentChange } | undefined {
    const current = this.repo.get(id);
    if (!current) throw new NotFoundError(`consent ${id} not found`);
    const check = checkConsentTransition(current.status, action);
    if (!check.ok) {
      if (lenient) return undefined;
      throw new ConflictError(`consent ${id}: ${check.reason}`, 'CONSENT_STATUS');
    }
    if (!this.repo.setStatus(id, current.status, check.to, at)) throw new ConflictError(`consent ${id} changed concurrently; try again`, 'CONSENT_STATUS');
    this.repo.addHistory({ consentId: id, at, status: check.to, actor, note });
    const consent: Consent = { ...current, status: check.to, updatedAt: at };
    const change: ConsentChange = { consentId: id, from: current.status, to: check.to, actor, at, note };
    this.deps.recordChange?.(change, consent);
    return { consent, change };
  }

  /** Notify revocation listeners once the change is durable (deferred if an outer transaction is open). */
  private afterCommit(consent: Consent, change: ConsentChange): void {
    if (change.from !== 'granted' || (change.to !== 'revoked' && change.to !== 'expired')) return;
    if (!this.listeners.size) return;
    const notify = () => {
      for (const listener of [...this.listeners]) {
        try {
          void Promise.resolve(listener(consent, change)).catch((err: unknown) => this.listenerFailed(consent, err));
        } catch (err) {
          this.listenerFailed(consent, err);
        }
      }
    };
    if (this.deps.store.db.inTransaction) setImmediate(notify);
    else notify();
  }

  private listenerFailed(consent: Consent, err: unknown): void {
    this.deps.logger?.error('consent revocation listener failed', { consentId: consent.id, error: err instanceof Error ? err.message : String(err) });
  }
}
