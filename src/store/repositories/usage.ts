import type { Sqlite } from '../database';
import { prepared } from './sql';

/**
 * Uses of each agreement (provider side), for N-times usage. A use is one transfer process: it is counted
 * once, on the process's first data access; its later requests (a resumed download, a retry) are not.
 */
export class UsageCountRepository {
  private readonly getStmt;
  private readonly incrementStmt;

  constructor(private readonly db: Sqlite) {
    this.getStmt = db.prepare<[string], { count: number }>('SELECT count FROM usage_counts WHERE agreement_id = ?');
    this.incrementStmt = db.prepare(
      `INSERT INTO usage_counts (agreement_id, count, last_at) VALUES (?, 1, ?)
       ON CONFLICT (agreement_id) DO UPDATE SET count = count + 1, last_at = excluded.last_at`,
    );
  }

  /** Uses counted under the agreement. */
  count(agreementId: string): number {
    return this.getStmt.get(agreementId)?.count ?? 0;
  }

  /** The use number of a transfer process already counted (1 for the agreement's first use), else undefined. */
  useOf(transferId: string): number | undefined {
    // Prepared on first use: usage_uses exists from schema version 8 on (read-only tools may open older files).
    return prepared<[string], { use_number: number }>(this.db, 'SELECT use_number FROM usage_uses WHERE transfer_id = ?').get(transferId)?.use_number;
  }

  /**
   * Count the transfer's use of its agreement, once: the first call for a transfer increments the agreement's
   * count and returns the new use number; later calls change nothing and return null. Atomic on its own (the
   * transfer is claimed by an INSERT that does nothing when it is already there); callers run it in the
   * transaction of the decision it follows.
   */
  countUse(agreementId: string, transferId: string): number | null {
    const at = new Date().toISOString();
    const claimed = prepared(
      this.db,
      `INSERT INTO usage_uses (transfer_id, agreement_id, use_number, counted_at)
       VALUES (@transferId, @agreementId, COALESCE((SELECT count FROM usage_counts WHERE agreement_id = @agreementId), 0) + 1, @at)
       ON CONFLICT (transfer_id) DO NOTHING`,
    ).run({ transferId, agreementId, at });
    if (claimed.changes !== 1) return null;
    this.incrementStmt.run(agreementId, at);
    return this.count(agreementId);
  }
}

export interface DeletionDuty {
  id: string;
  agreementId: string;
  transferId: string;
  path: string;
  dueAt: string;
  providerId: string;
  receiptUrl: string | null;
  status: 'pending' | 'deleted' | 'receipt-sent';
  deletedAt: string | null;
  createdAt: string;
}

interface DutyRow {
  id: string;
  agreement_id: string;
  transfer_id: string;
  path: string;
  due_at: string;
  provider_id: string;
  receipt_url: string | null;
  status: DeletionDuty['status'];
  deleted_at: string | null;
  created_at: string;
}

const dutyFromRow = (r: DutyRow): DeletionDuty => ({
  id: r.id,
  agreementId: r.agreement_id,
  transferId: r.transfer_id,
  path: r.path,
  dueAt: r.due_at,
  providerId: r.provider_id,
  receiptUrl: r.receipt_url,
  status: r.status,
  deletedAt: r.deleted_at,
  createdAt: r.created_at,
});

/** Consumer side: received copies that must be deleted, kept until done so restarts cannot lose them. */
export class DeletionDutyRepository {
  private readonly insertStmt;
  private readonly dueStmt;
  private readonly nextStmt;
  private readonly markStmt;
  private readonly forAgreementStmt;
  private readonly advanceStmt;
  private readonly getStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare(
      `INSERT INTO deletion_duties (id, agreement_id, transfer_id, path, due_at, provider_id, receipt_url, status, created_at)
       VALUES (@id, @agreementId, @transferId, @path, @dueAt, @providerId, @receiptUrl, 'pending', @createdAt)`,
    );
    this.dueStmt = db.prepare<[string], DutyRow>("SELECT * FROM deletion_duties WHERE status = 'pending' AND due_at <= ? ORDER BY due_at");
    this.nextStmt = db.prepare<[], { at: string | null }>("SELECT min(due_at) AS at FROM deletion_duties WHERE status = 'pending'");
    this.markStmt = db.prepare("UPDATE deletion_duties SET status = 'deleted', deleted_at = ? WHERE id = ? AND status = 'pending'");
    this.forAgreementStmt = db.prepare<[string], DutyRow>('SELECT * FROM deletion_duties WHERE agreement_id = ? ORDER BY created_at');
    this.advanceStmt = db.prepare("UPDATE deletion_duties SET due_at = ? WHERE agreement_id = ? AND status = 'pending' AND due_at > ?");
    this.getStmt = db.prepare<[string], DutyRow>('SELECT * FROM deletion_duties WHERE id = ?');
  }

  add(d: Omit<DeletionDuty, 'status' | 'deletedAt' | 'createdAt'>): void {
    this.insertStmt.run({ ...d, createdAt: new Date().toISOString() });
  }

  get(id: string): DeletionDuty | undefined {
    const row = this.getStmt.get(id);
    return row ? dutyFromRow(row) : undefined;
  }

  due(nowIso: string): DeletionDuty[] {
    return this.dueStmt.all(nowIso).map(dutyFromRow);
  }

  nextDueAt(): string | null {
    return this.nextStmt.get()!.at;
  }

  /** Mark deleted; false when it was already done (idempotent across restarts). */
  markDeleted(id: string): boolean {
    return this.markStmt.run(new Date().toISOString(), id).changes === 1;
  }

  forAgreement(agreementId: string): DeletionDuty[] {
    return this.forAgreementStmt.all(agreementId).map(dutyFromRow);
  }

  /** Make every pending duty of an agreement due now (the agreement was ended, e.g. consent revoked). */
  dueNow(agreementId: string): number {
    const now = new Date().toISOString();
    return this.advanceStmt.run(now, agreementId, now).changes;
  }
}

/** Provider side: deletion receipts signed by consumers. */
export class DeletionReceiptRepository {
  private readonly insertStmt;
  private readonly forAgreementStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare(
      'INSERT OR IGNORE INTO deletion_receipts (id, agreement_id, transfer_id, consumer_id, receipt, received_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.forAgreementStmt = db.prepare<[string], { id: string; agreement_id: string; transfer_id: string | null; consumer_id: string; receipt: string; received_at: string }>(
      'SELECT * FROM deletion_receipts WHERE agreement_id = ? ORDER BY received_at',
    );
  }

  add(r: { id: string; agreementId: string; transferId: string | null; consumerId: string; receipt: string }): boolean {
    return this.insertStmt.run(r.id, r.agreementId, r.transferId, r.consumerId, r.receipt, new Date().toISOString()).changes === 1;
  }

  forAgreement(agreementId: string) {
    return this.forAgreementStmt.all(agreementId).map((r) => ({
      id: r.id,
      agreementId: r.agreement_id,
      transferId: r.transfer_id,
      consumerId: r.consumer_id,
      receipt: r.receipt,
      receivedAt: r.received_at,
    }));
  }
}
