import crypto from 'node:crypto';
import type { Sqlite } from '../database';

export interface ApiKeyRecord {
  id: string;
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

/**
 * Management API keys. Only a SHA-256 hash is stored: keys are 256-bit random values, so a slow
 * password hash would add latency to every request without adding security.
 */
export class ApiKeyRepository {
  private readonly insertStmt;
  private readonly byHashStmt;
  private readonly listStmt;
  private readonly revokeStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare('INSERT INTO api_keys (id, label, key_hash, created_at) VALUES (?, ?, ?, ?)');
    this.byHashStmt = db.prepare<[string], { id: string }>('SELECT id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL');
    this.listStmt = db.prepare<[], ApiKeyRecord>(
      'SELECT id, label, created_at AS createdAt, revoked_at AS revokedAt FROM api_keys ORDER BY created_at',
    );
    this.revokeStmt = db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  }

  static hash(key: string): string {
    return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
  }

  /** Create a key; the plaintext is returned once and never stored. */
  create(label: string): { id: string; key: string } {
    const id = crypto.randomUUID();
    const key = `hr_${crypto.randomBytes(32).toString('base64url')}`;
    this.insertStmt.run(id, label, ApiKeyRepository.hash(key), new Date().toISOString());
    return { id, key };
  }

  /** The id of the active key matching `key`, or null. Lookup by hash: no timing signal about the key. */
  verify(key: string): string | null {
    return this.byHashStmt.get(ApiKeyRepository.hash(key))?.id ?? null;
  }

  list(): ApiKeyRecord[] {
    return this.listStmt.all();
  }

  revoke(id: string): boolean {
    return this.revokeStmt.run(new Date().toISOString(), id).changes === 1;
  }
}
