import type { Sqlite } from '../database';

export interface OutboxEntry {
  id: number;
  processId: string;
  messageType: string;
  url: string;
  audience: string;
  body: Record<string, unknown>;
  attempts: number;
  nextAttemptAt: number;
  giveUpAt: number;
  lastError: string | null;
  createdAt: string;
}

interface Row {
  id: number;
  process_id: string;
  message_type: string;
  url: string;
  audience: string;
  body: string;
  attempts: number;
  next_attempt_at: number;
  give_up_at: number;
  last_error: string | null;
  created_at: string;
}

const fromRow = (r: Row): OutboxEntry => ({
  id: r.id,
  processId: r.process_id,
  messageType: r.message_type,
  url: r.url,
  audience: r.audience,
  body: JSON.parse(r.body) as Record<string, unknown>,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  giveUpAt: r.give_up_at,
  lastError: r.last_error,
  createdAt: r.created_at,
});

export class OutboxRepository {
  private readonly insertStmt;
  private readonly headsStmt;
  private readonly headForStmt;
  private readonly nextDueStmt;
  private readonly deleteStmt;
  private readonly retryStmt;
  private readonly forProcessStmt;
  private readonly dropProcessStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare(
      `INSERT INTO outbox (process_id, message_type, url, audience, body, next_attempt_at, give_up_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Only the oldest entry of each process may be sent: messages of one process leave in order.
    this.headsStmt = db.prepare<[number, number], Row>(
      `SELECT * FROM outbox
       WHERE id IN (SELECT min(id) FROM outbox GROUP BY process_id) AND next_attempt_at <= ?
       ORDER BY next_attempt_at LIMIT ?`,
    );
    this.headForStmt = db.prepare<[string], Row>('SELECT * FROM outbox WHERE process_id = ? ORDER BY id LIMIT 1');
    this.nextDueStmt = db.prepare<[], { at: number | null }>('SELECT min(next_attempt_at) AS at FROM outbox');
    this.deleteStmt = db.prepare('DELETE FROM outbox WHERE id = ?');
    this.retryStmt = db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?');
    this.forProcessStmt = db.prepare<[string], Row>('SELECT * FROM outbox WHERE process_id = ? ORDER BY id');
    this.dropProcessStmt = db.prepare('DELETE FROM outbox WHERE process_id = ?');
  }

  enqueue(e: { processId: string; messageType: string; url: string; audience: string; body: object; giveUpAt: number; notBefore?: number }): number {
    const now = Date.now();
    return Number(
      this.insertStmt.run(e.processId, e.messageType, e.url, e.audience, JSON.stringify(e.body), e.notBefore ?? now, e.giveUpAt, new Date(now).toISOString())
        .lastInsertRowid,
    );
  }

  /** Entries ready to send now, at most one per process (the oldest). */
  due(now: number, limit: number): OutboxEntry[] {
    return this.headsStmt.all(now, limit).map(fromRow);
  }

  headFor(processId: string): OutboxEntry | undefined {
    const row = this.headForStmt.get(processId);
    return row ? fromRow(row) : undefined;
  }

  nextDueAt(): number | null {
    return this.nextDueStmt.get()!.at;
  }

  delivered(id: number): void {
    this.deleteStmt.run(id);
  }

  scheduleRetry(id: number, nextAttemptAt: number, error: string): void {
    this.retryStmt.run(nextAttemptAt, error, id);
  }

  forProcess(processId: string): OutboxEntry[] {
    return this.forProcessStmt.all(processId).map(fromRow);
  }

  /** Drop every undelivered message of a process (it ended; nothing more should reach the peer). */
  dropProcess(processId: string): number {
    return this.dropProcessStmt.run(processId).changes;
  }
}
