import type { Sqlite } from '../database';

export type ProcessEventKind = 'received' | 'sent' | 'send-failed' | 'transition' | 'decision' | 'note';

export interface ProcessEvent {
  seq: number;
  processId: string;
  at: string;
  kind: ProcessEventKind;
  messageType: string | null;
  fromState: string | null;
  toState: string | null;
  detail: unknown;
}

interface Row {
  seq: number;
  process_id: string;
  at: string;
  kind: ProcessEventKind;
  message_type: string | null;
  from_state: string | null;
  to_state: string | null;
  detail: string | null;
}

/** The per-process timeline shown by the management API: what was sent, received, decided and why. */
export class ProcessEventRepository {
  private readonly insertStmt;
  private readonly listStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare(
      'INSERT INTO process_events (process_id, at, kind, message_type, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.listStmt = db.prepare<[string], Row>('SELECT * FROM process_events WHERE process_id = ? ORDER BY seq');
  }

  append(e: Omit<ProcessEvent, 'seq' | 'at'>): void {
    this.insertStmt.run(
      e.processId,
      new Date().toISOString(),
      e.kind,
      e.messageType,
      e.fromState,
      e.toState,
      e.detail === undefined ? null : JSON.stringify(e.detail),
    );
  }

  forProcess(processId: string): ProcessEvent[] {
    return this.listStmt.all(processId).map((r) => ({
      seq: r.seq,
      processId: r.process_id,
      at: r.at,
      kind: r.kind,
      messageType: r.message_type,
      fromState: r.from_state,
      toState: r.to_state,
      detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown),
    }));
  }
}
