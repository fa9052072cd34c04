import type { Sqlite } from '../database';

/** Token ids (jti) already accepted, remembered until their token expires: a replay is refused. */
export class SeenTokenRepository {
  private readonly insertStmt;
  private readonly pruneStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare('INSERT OR IGNORE INTO seen_tokens (jti, expires_at) VALUES (?, ?)');
    this.pruneStmt = db.prepare('DELETE FROM seen_tokens WHERE expires_at < ?');
  }

  /** Record `jti`; false when it was already recorded (a replay). */
  remember(jti: string, expiresAtSeconds: number): boolean {
    return this.insertStmt.run(jti, expiresAtSeconds).changes === 1;
  }

  prune(nowSeconds: number): number {
    return this.pruneStmt.run(nowSeconds).changes;
  }
}
