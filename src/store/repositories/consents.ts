import type { Sqlite } from '../database';
import { afterParams, prepared, type BatchCursor } from './sql';

export type ConsentStatus = 'pending' | 'granted' | 'refused' | 'revoked' | 'expired';
export const CONSENT_STATUSES: readonly ConsentStatus[] = ['pending', 'granted', 'refused', 'revoked', 'expired'];

/** A farmer's (data originator's) consent to share data with one beneficiary for one purpose. */
export interface Consent {
  id: string;
  /** The farm or data subject whose data it is (matches `Asset.originator`). */
  originator: string;
  /** Data category, e.g. `parcel-yields`; null: every category of the originator's data. */
  category: string | null;
  purpose: string;
  /** Participant id that may receive the data. */
  beneficiary: string;
  /** ISO 8601 instants (UTC, `toISOString` form); null: open-ended. */
  validFrom: string | null;
  validUntil: string | null;
  status: ConsentStatus;
  createdAt: string;
  updatedAt: string;
}

export interface ConsentHistoryEntry {
  seq: number;
  consentId: string;
  at: string;
  status: ConsentStatus;
  /** Who made the change: `operator`, `system`, or the originator (approval link). */
  actor: string;
  note: string | null;
}

export interface ConsentFilter {
  originator?: string;
  beneficiary?: string;
  purpose?: string;
  status?: ConsentStatus;
  limit?: number;
  /** Page: consents created before this one (newest first). */
  before?: string;
}

interface Row {
  id: string;
  originator: string;
  category: string | null;
  purpose: string;
  beneficiary: string;
  valid_from: string | null;
  valid_until: string | null;
  status: ConsentStatus;
  approval_hash: string | null;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): Consent => ({
  id: r.id,
  originator: r.originator,
  category: r.category,
  purpose: r.purpose,
  beneficiary: r.beneficiary,
  validFrom: r.valid_from,
  validUntil: r.valid_until,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** ISO instant `seconds` after `column`, in the `toISOString` form so it compares as text. */
const plusSeconds = (column: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${column}, '+' || @ttl || ' seconds')`;

/**
 * The consent registry (tables `consents` and `consent_history`, migration 5). Plain data access: the
 * ConsentService owns the status rules and wraps every change and its history row in one transaction.
 * Statements are prepared on first use, so a Store opened on an older schema (read-only tools) works.
 */
export class ConsentRepository {
  constructor(private readonly db: Sqlite) {}

  private stmt(sql: string) {
    return prepared(this.db, sql);
  }

  insert(c: Consent & { approvalHash: string | null }): Consent {
    this.stmt(
      `INSERT INTO consents (id, originator, category, purpose, beneficiary, valid_from, valid_until, status, approval_hash, created_at, updated_at)
       VALUES (@id, @originator, @category, @purpose, @beneficiary, @validFrom, @validUntil, @status, @approvalHash, @createdAt, @updatedAt)`,
    ).run(c);
    const { approvalHash: _hash, ...consent } = c;
    return consent;
  }

  get(id: string): Consent | undefined {
    const row = this.stmt('SELECT * FROM consents WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** SHA-256 (hex) of the approval link token; null when none was issued, undefined when no such consent. */
  approvalHash(id: string): string | null | undefined {
    const row = this.stmt('SELECT approval_hash FROM consents WHERE id = ?').get(id) as { approval_hash: string | null } | undefined;
    return row ? row.approval_hash : undefined;
  }

  /** Compare-and-set: changes the status only if it is still `from`. False when someone else changed it first. */
  setStatus(id: string, from: ConsentStatus, to: ConsentStatus, at: string): boolean {
    return this.stmt('UPDATE consents SET status = ?, updated_at = ? WHERE id = ? AND status = ?').run(to, at, id, from).changes === 1;
  }

  addHistory(e: Omit<ConsentHistoryEntry, 'seq'>): void {
    this.stmt('INSERT INTO consent_history (consent_id, at, status, actor, note) VALUES (?, ?, ?, ?, ?)').run(e.consentId, e.at, e.status, e.actor, e.note);
  }

  history(id: string): ConsentHistoryEntry[] {
    return this.stmt(
      'SELECT seq, consent_id AS consentId, at, status, actor, note FROM consent_history WHERE consent_id = ? ORDER BY seq',
    ).all(id) as ConsentHistoryEntry[];
  }

  list(filter: ConsentFilter = {}): Consent[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.min(Math.max(filter.limit ?? 50, 1), 500) };
    if (filter.originator !== undefined) (where.push('originator = @originator'), (params.originator = filter.originator));
    if (filter.beneficiary !== undefined) (where.push('beneficiary = @beneficiary'), (params.beneficiary = filter.beneficiary));
    if (filter.purpose !== undefined) (where.push('purpose = @purpose'), (params.purpose = filter.purpose));
    if (filter.status !== undefined) (where.push('status = @status'), (params.status = filter.status));
    if (filter.before !== undefined) {
      where.push('(created_at, id) < (SELECT created_at, id FROM consents WHERE id = @before)');
      params.before = filter.before;
    }
    const sql = `SELECT * FROM consents ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC LIMIT @limit`;
    return this.stmt(sql).all(params).map((r) => fromRow(r as Row));
  }

  /**
   * Whether a GRANTED consent currently valid at `now` matches. Served by the index
   * `consents_match (originator, beneficiary, purpose, status)`. A consent without a category covers
   * every category; one limited to a category matches only that `category` (null: data of no stated
   * category, which only an all-categories consent covers).
   */
  hasGranted(q: { originator: string; beneficiary: string; purpose: string; category: string | null; now: string }): boolean {
    return (
      this.stmt(
        `SELECT 1 FROM consents
          WHERE originator = @originator AND beneficiary = @beneficiary AND purpose = @purpose AND status = 'granted'
            AND (valid_from IS NULL OR valid_from <= @now)
            AND (valid_until IS NULL OR valid_until > @now)
            AND (category IS NULL OR category = @category)
          LIMIT 1`,
      ).get(q) !== undefined
    );
  }

  /**
   * Consents whose time is up at `now`: granted ones past `valid_until`, pending ones past their approval
   * deadline (the earlier of `valid_until` and `created_at` + `ttlSeconds`). Oldest first, at most `limit`,
   * strictly after the cursor `after` (created_at, id): one batch of a pass over all of them.
   */
  due(now: string, ttlSeconds: number, batch: { limit: number; after?: BatchCursor }): Consent[] {
    return (
      this.stmt(
        `SELECT * FROM consents
          WHERE ((status = 'granted' AND valid_until IS NOT NULL AND valid_until <= @now)
             OR (status = 'pending' AND (${plusSeconds('created_at')} <= @now OR (valid_until IS NOT NULL AND valid_until <= @now))))
            AND (@afterAt IS NULL OR (created_at, id) > (@afterAt, @afterId))
          ORDER BY created_at, id LIMIT @limit`,
      ).all({ now, ttl: ttlSeconds, limit: batch.limit, ...afterParams(batch.after) }) as Row[]
    ).map(fromRow);
  }

  /** The earliest instant at which some pending or granted consent will be due, or null. */
  nextDeadline(ttlSeconds: number): string | null {
    const row = this.stmt(
      `SELECT MIN(d) AS d FROM (
         SELECT valid_until AS d FROM consents WHERE status = 'granted' AND valid_until IS NOT NULL
         UNION ALL
         SELECT MIN(COALESCE(valid_until, '9999-12-31T23:59:59.999Z'), ${plusSeconds('created_at')}) AS d FROM consents WHERE status = 'pending'
       )`,
    ).get({ ttl: ttlSeconds }) as { d: string | null };
    return row.d;
  }
}
