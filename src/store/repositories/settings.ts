import type { Sqlite } from '../database';

/** Small key/value settings (e.g. when the node was initialised). */
export class SettingsRepository {
  private readonly getStmt;
  private readonly putStmt;

  constructor(db: Sqlite) {
    this.getStmt = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?');
    this.putStmt = db.prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }

  set(key: string, value: string): void {
    this.putStmt.run(key, value, new Date().toISOString());
  }
}
