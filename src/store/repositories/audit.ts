import type { Statement } from 'better-sqlite3';
import type { Sqlite } from '../database';
import { prepared } from './sql';

/** A row of `audit_log` as stored: `detail` is the canonical JSON text. */
export interface AuditRow {
  seq: number;
  at: string;
  processId: string | null;
  actor: string;
  event: string;
  detail: string;
  prevHash: string;
  hash: string;
}

/** A row of `audit_heads`: a signature over the chain head at `seq`. */
export interface SignedHeadRow {
  seq: number;
  hash: string;
  signedAt: string;
  jws: string;
}

interface Row {
  seq: number;
  at: string;
  process_id: string | null;
  actor: string;
  event: string;
  detail: string;
  prev_hash: string;
  hash: string;
}

interface HeadRow {
  seq: number;
  hash: string;
  signed_at: string;
  jws: string;
}

export interface AuditFilter {
  /** ISO 8601 instants, inclusive. */
  from?: string;
  to?: string;
  processId?: string;
}

const toEntry = (r: Row): AuditRow => ({ seq: r.seq, at: r.at, processId: r.process_id, actor: r.actor, event: r.event, detail: r.detail, prevHash: r.prev_hash, hash: r.hash });
const toHead = (r: HeadRow): SignedHeadRow => ({ seq: r.seq, hash: r.hash, signedAt: r.signed_at, jws: r.jws });

/**
 * The append-only audit log and its signed heads (schema version 4; the triggers refuse UPDATE and DELETE). The hash
 * chain is computed by src/audit/audit-trail.ts; this repository only stores and reads rows. Statements are prepared
 * on first use, so a read-only open of an older database does not fail for the other repositories' sake.
 */
export class AuditRepository {
  constructor(private readonly db: Sqlite) {}

  private stmt<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> {
    return prepared<P, R>(this.db, sql);
  }

  /** False on a database older than schema version 4. */
  available(): boolean {
    return !!this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
  }

  /** The last entry's seq and hash, or undefined for an empty log. */
  last(): { seq: number; hash: string } | undefined {
    return this.stmt<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get();
  }

  insert(e: AuditRow): void {
    this.stmt('INSERT INTO audit_log (seq, at, process_id, actor, event, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      e.seq,
      e.at,
      e.processId,
      e.actor,
      e.event,
      e.detail,
      e.prevHash,
      e.hash,
    );
  }

  get(seq: number): AuditRow | undefined {
    const r = this.stmt<[number], Row>('SELECT * FROM audit_log WHERE seq = ?').get(seq);
    return r && toEntry(r);
  }

  /** Entries with seq > afterSeq in seq order (verification reads the log in pages). */
  page(afterSeq: number, limit: number): AuditRow[] {
    return this.stmt<[number, number], Row>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit).map(toEntry);
  }

  /** Entries fromSeq..toSeq inclusive, in seq order. */
  between(fromSeq: number, toSeq: number): AuditRow[] {
    return this.stmt<[number, number], Row>('SELECT * FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq').all(fromSeq, toSeq).map(toEntry);
  }

  /** Seqs of the entries matching a filter, in order. */
  matching(f: AuditFilter): number[] {
    const where: string[] = [];
    const args: string[] = [];
    const add = (clause: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    add('at >= ?', f.from);
    add('at <= ?', f.to);
    add('process_id = ?', f.processId);
    const sql = `SELECT seq FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
    return this.stmt<string[], { seq: number }>(sql)
      .all(...args)
      .map((r) => r.seq);
  }

  count(): number {
    return this.stmt<[], { n: number }>('SELECT count(*) AS n FROM audit_log').get()!.n;
  }

  // ---------------------------------------------------------------- signed heads

  lastHead(): SignedHeadRow | undefined {
    const r = this.stmt<[], HeadRow>('SELECT * FROM audit_heads ORDER BY seq DESC LIMIT 1').get();
    return r && toHead(r);
  }

  headAt(seq: number): SignedHeadRow | undefined {
    const r = this.stmt<[number], HeadRow>('SELECT * FROM audit_heads WHERE seq = ?').get(seq);
    return r && toHead(r);
  }

  heads(): SignedHeadRow[] {
    return this.stmt<[], HeadRow>('SELECT * FROM audit_heads ORDER BY seq').all().map(toHead);
  }

  headsBetween(fromSeq: number, toSeq: number): SignedHeadRow[] {
    return this.stmt<[number, number], HeadRow>('SELECT * FROM audit_heads WHERE seq BETWEEN ? AND ? ORDER BY seq').all(fromSeq, toSeq).map(toHead);
  }

  /** Store a signature; one per seq (a second signature of the same head is not stored). Returns whether it was. */
  insertHead(h: SignedHeadRow): boolean {
    return this.stmt('INSERT OR IGNORE INTO audit_heads (seq, hash, signed_at, jws) VALUES (?, ?, ?, ?)').run(h.seq, h.hash, h.signedAt, h.jws).changes === 1;
  }
}
