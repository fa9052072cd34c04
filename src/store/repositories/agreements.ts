import type { Sqlite } from '../database';
import { afterParams, prepared, selectNewest, type BatchCursor } from './sql';
import type { Role } from './negotiations';

export type AgreementStatus = 'pending' | 'active' | 'revoked';

export interface AgreementRecord {
  id: string;
  negotiationId: string;
  role: Role;
  providerId: string;
  consumerId: string;
  assetId: string;
  /** The DSP Agreement object exactly as exchanged. */
  agreement: Record<string, unknown>;
  signedAt: string;
  status: AgreementStatus;
  statusReason: string | null;
}

interface Row {
  id: string;
  negotiation_id: string;
  role: Role;
  provider_id: string;
  consumer_id: string;
  asset_id: string;
  agreement: string;
  signed_at: string;
  status: AgreementStatus;
  status_reason: string | null;
}

const fromRow = (r: Row): AgreementRecord => ({
  id: r.id,
  negotiationId: r.negotiation_id,
  role: r.role,
  providerId: r.provider_id,
  consumerId: r.consumer_id,
  assetId: r.asset_id,
  agreement: JSON.parse(r.agreement) as Record<string, unknown>,
  signedAt: r.signed_at,
  status: r.status,
  statusReason: r.status_reason,
});

export class AgreementRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly setStatusStmt;

  constructor(private readonly db: Sqlite) {
    this.insertStmt = db.prepare(
      `INSERT INTO agreements (id, negotiation_id, role, provider_id, consumer_id, asset_id, agreement, signed_at, status)
       VALUES (@id, @negotiationId, @role, @providerId, @consumerId, @assetId, @agreement, @signedAt, @status)`,
    );
    this.getStmt = db.prepare<[string, Role], Row>('SELECT * FROM agreements WHERE id = ? AND role = ?');
    this.setStatusStmt = db.prepare('UPDATE agreements SET status = ?, status_reason = ? WHERE id = ? AND role = ?');
  }

  insert(a: Omit<AgreementRecord, 'statusReason'>): AgreementRecord {
    this.insertStmt.run({ ...a, agreement: JSON.stringify(a.agreement) });
    return { ...a, statusReason: null };
  }

  get(id: string, role: Role): AgreementRecord | undefined {
    const row = this.getStmt.get(id, role);
    return row ? fromRow(row) : undefined;
  }

  setStatus(id: string, role: Role, status: AgreementStatus, reason: string | null = null): void {
    this.setStatusStmt.run(status, reason, id, role);
  }

  list(filter: { role?: Role; status?: AgreementStatus; assetId?: string; limit?: number } = {}): AgreementRecord[] {
    return selectNewest<Row>(this.db, 'agreements', { role: filter.role, status: filter.status, asset_id: filter.assetId }, { limit: filter.limit, orderBy: 'signed_at DESC' }).map(fromRow);
  }

  /** Agreements in `role` and `status` with consumer `consumerId`, oldest first, strictly after `after`: one batch of a pass over all of them. */
  batch(filter: { role: Role; status: AgreementStatus; consumerId: string }, limit: number, after?: BatchCursor): AgreementRecord[] {
    return prepared<[Record<string, unknown>], Row>(
      this.db,
      `SELECT * FROM agreements WHERE role = @role AND status = @status AND consumer_id = @consumerId
          AND (@afterAt IS NULL OR (signed_at, id) > (@afterAt, @afterId))
        ORDER BY signed_at, id LIMIT @limit`,
    )
      .all({ ...filter, limit, ...afterParams(after) })
      .map(fromRow);
  }
}
