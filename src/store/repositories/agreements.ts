import type { Sqlite } from '../database';
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
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.min(filter.limit ?? 50, 500) };
    if (filter.role) (where.push('role = @role'), (params.role = filter.role));
    if (filter.status) (where.push('status = @status'), (params.status = filter.status));
    if (filter.assetId) (where.push('asset_id = @asset'), (params.asset = filter.assetId));
    const sql = `SELECT * FROM agreements ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY signed_at DESC LIMIT @limit`;
    return (this.db.prepare(sql).all(params) as Row[]).map(fromRow);
  }
}
