import type { Sqlite } from '../database';

/** Persisted SHA-256 of asset file versions, so a restart does not rehash gigabytes. */
export class FileDigestRepository {
  private readonly getStmt;
  private readonly putStmt;

  constructor(db: Sqlite) {
    this.getStmt = db.prepare<[string], { sha256: string }>('SELECT sha256 FROM file_digests WHERE fingerprint = ?');
    this.putStmt = db.prepare('INSERT OR REPLACE INTO file_digests (fingerprint, sha256, computed_at) VALUES (?, ?, ?)');
  }

  get(fingerprint: string): string | undefined {
    return this.getStmt.get(fingerprint)?.sha256;
  }

  set(fingerprint: string, sha256: string): void {
    this.putStmt.run(fingerprint, sha256, new Date().toISOString());
  }
}
