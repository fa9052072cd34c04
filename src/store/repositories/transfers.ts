import type { Sqlite } from '../database';
import { ProcessTable } from './process-table';
import { afterParams, prepared, type BatchCursor } from './sql';
import { LIVE_TRANSFER_STATES, type TransferState } from '../../statemachine/transfer';
import type { Role } from './negotiations';

export type DataStatus = 'pushing' | 'pushed' | 'downloaded';

export interface Transfer {
  id: string;
  role: Role;
  providerPid: string | null;
  consumerPid: string | null;
  counterpartyId: string;
  counterpartyAddress: string | null;
  agreementId: string;
  assetId: string | null;
  format: string;
  state: TransferState;
  nextAction: string | null;
  /** Push target (provider side) or the provider's pull endpoint (consumer side). Holds secrets: never returned as is. */
  dataAddress: Record<string, unknown> | null;
  dataStatus: DataStatus | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  role: Role;
  provider_pid: string | null;
  consumer_pid: string | null;
  counterparty_id: string;
  counterparty_address: string | null;
  agreement_id: string;
  asset_id: string | null;
  format: string;
  state: TransferState;
  next_action: string | null;
  data_address: string | null;
  data_status: DataStatus | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): Transfer => ({
  id: r.id,
  role: r.role,
  providerPid: r.provider_pid,
  consumerPid: r.consumer_pid,
  counterpartyId: r.counterparty_id,
  counterpartyAddress: r.counterparty_address,
  agreementId: r.agreement_id,
  assetId: r.asset_id,
  format: r.format,
  state: r.state,
  nextAction: r.next_action,
  dataAddress: r.data_address ? (JSON.parse(r.data_address) as Record<string, unknown>) : null,
  dataStatus: r.data_status,
  bytes: r.bytes,
  sha256: r.sha256,
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type TransferPatch = Partial<
  Pick<Transfer, 'state' | 'nextAction' | 'providerPid' | 'dataAddress' | 'dataStatus' | 'bytes' | 'sha256' | 'error' | 'counterpartyAddress'>
>;

const COLUMN: Record<keyof TransferPatch, string> = {
  state: 'state',
  nextAction: 'next_action',
  providerPid: 'provider_pid',
  dataAddress: 'data_address',
  dataStatus: 'data_status',
  bytes: 'bytes',
  sha256: 'sha256',
  error: 'error',
  counterpartyAddress: 'counterparty_address',
};

export class TransferRepository extends ProcessTable<Row, Transfer, TransferPatch> {
  private readonly insertStmt;
  private readonly liveForAgreementStmt;
  private readonly startedPushesStmt;

  constructor(db: Sqlite) {
    super(db, 'transfers', COLUMN, ['dataAddress'], fromRow, LIVE_TRANSFER_STATES);
    this.insertStmt = db.prepare(
      `INSERT INTO transfers (id, role, provider_pid, consumer_pid, counterparty_id, counterparty_address, agreement_id, asset_id, format,
         state, next_action, data_address, data_status, bytes, sha256, error, created_at, updated_at)
       VALUES (@id, @role, @providerPid, @consumerPid, @counterpartyId, @counterpartyAddress, @agreementId, @assetId, @format,
         @state, @nextAction, @dataAddress, @dataStatus, @bytes, @sha256, @error, @createdAt, @updatedAt)`,
    );
    this.liveForAgreementStmt = db.prepare<[string], Row>(
      "SELECT * FROM transfers WHERE agreement_id = ? AND state IN ('REQUESTED', 'STARTED', 'SUSPENDED') ORDER BY created_at",
    );
    this.startedPushesStmt = db.prepare<[], Row>(
      "SELECT * FROM transfers WHERE role = 'provider' AND state = 'STARTED' AND format = 'HttpData-PUSH' AND (data_status IS NULL OR data_status = 'pushing')",
    );
  }

  insert(t: Omit<Transfer, 'createdAt' | 'updatedAt'>): Transfer {
    const now = new Date().toISOString();
    const full: Transfer = { ...t, createdAt: now, updatedAt: now };
    this.insertStmt.run({ ...full, dataAddress: full.dataAddress ? JSON.stringify(full.dataAddress) : null });
    return full;
  }

  /** Transfers of an agreement that have not ended (to stop them when the agreement ends). */
  liveForAgreement(agreementId: string): Transfer[] {
    return this.liveForAgreementStmt.all(agreementId).map(fromRow);
  }

  /** Push transfers whose data was not completely delivered (resumed after a restart). */
  unfinishedPushes(): Transfer[] {
    return this.startedPushesStmt.all().map(fromRow);
  }

  list(filter: { role?: Role; state?: TransferState; agreementId?: string; limit?: number } = {}): Transfer[] {
    return this.newest({ role: filter.role, state: filter.state, agreement_id: filter.agreementId }, filter.limit);
  }

  /** Transfers in `role` and `state`, oldest first, strictly after `after`: one batch of a pass over all of them. */
  batch(filter: { role: Role; state: TransferState }, limit: number, after?: BatchCursor): Transfer[] {
    return prepared<[Record<string, unknown>], Row>(
      this.db,
      `SELECT * FROM transfers WHERE role = @role AND state = @state AND (@afterAt IS NULL OR (created_at, id) > (@afterAt, @afterId))
        ORDER BY created_at, id LIMIT @limit`,
    )
      .all({ role: filter.role, state: filter.state, limit, ...afterParams(after) })
      .map(fromRow);
  }
}
