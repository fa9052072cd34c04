import type { Sqlite } from '../database';
import type { Role } from './negotiations';
import { selectNewest, updateFields } from './sql';

/**
 * What the negotiations and transfers tables have in common: our pid is the row id, the
 * counterparty's pid is unique per counterparty, `next_action` holds the messages still owed, and
 * updates touch only the given fields.
 */
export abstract class ProcessTable<Row, R extends { role: Role }, P extends object> {
  private readonly getStmt;
  private readonly byPeerConsumerPidStmt;
  private readonly pendingStmt;
  private readonly openWithStmt;

  protected constructor(
    protected readonly db: Sqlite,
    private readonly table: 'negotiations' | 'transfers',
    private readonly columns: Record<keyof P, string>,
    private readonly jsonFields: ReadonlyArray<keyof P>,
    protected readonly fromRow: (row: Row) => R,
    /** The non-terminal states of the table's state machine (constants, inlined into the count). */
    liveStates: readonly string[],
  ) {
    this.getStmt = db.prepare<[string], Row>(`SELECT * FROM ${table} WHERE id = ?`);
    this.byPeerConsumerPidStmt = db.prepare<[string, string], Row>(`SELECT * FROM ${table} WHERE role = 'provider' AND counterparty_id = ? AND consumer_pid = ?`);
    this.pendingStmt = db.prepare<[], Row>(`SELECT * FROM ${table} WHERE next_action IS NOT NULL ORDER BY updated_at`);
    // Covered by the (counterparty_id, state) index: one seek per live state, no table rows read.
    const live = liveStates.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ');
    this.openWithStmt = db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM ${table} WHERE counterparty_id = ? AND state IN (${live})`);
  }

  get(id: string): R | undefined {
    const row = this.getStmt.get(id);
    return row ? this.fromRow(row) : undefined;
  }

  /** A process by the pid this connector assigned in `role` (our pid is our row id). */
  own(role: Role, pid: string): R | undefined {
    const p = this.get(pid);
    return p?.role === role ? p : undefined;
  }

  /** A provider-side process by the consumer's pid, for idempotent initial requests. */
  byPeerConsumerPid(counterpartyId: string, consumerPid: string): R | undefined {
    const row = this.byPeerConsumerPidStmt.get(counterpartyId, consumerPid);
    return row ? this.fromRow(row) : undefined;
  }

  /** How many processes with this counterparty, in either role, have not reached a terminal state. */
  openWith(counterpartyId: string): number {
    return this.openWithStmt.get(counterpartyId)!.n;
  }

  /** Processes with messages owed by this connector (resumed after a restart). */
  pending(): R[] {
    return this.pendingStmt.all().map(this.fromRow);
  }

  update(id: string, patch: P): R {
    updateFields(this.db, this.table, this.columns, id, patch, this.jsonFields);
    return this.get(id)!;
  }

  /** Newest first, filtered by column values; `extra` adds raw conditions. */
  protected newest(filters: Record<string, unknown>, limit: number | undefined, extra: Array<{ sql: string; params: Record<string, unknown> }> = []): R[] {
    return selectNewest<Row>(this.db, this.table, filters, { limit, orderBy: 'created_at DESC, id DESC', extra }).map(this.fromRow);
  }
}
