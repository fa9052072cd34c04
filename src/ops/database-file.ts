/**
 * The database file as the operations commands (backup, restore, migrate) see it: opened WITHOUT migrating, since
 * those commands decide about versions themselves, and probed for a running connector.
 *
 * Read-write rather than read-only on purpose: a read-only connection to a WAL database creates -wal/-shm files
 * and leaves them behind when it closes; a read-write connection that is the last one removes them.
 */
import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { ConflictError, NotFoundError, StoreError } from '../errors';
import { schemaVersion, type Sqlite } from '../store/database';

export function openWithoutMigrating(file: string, opts: { readonly?: boolean; busyTimeoutMs?: number } = {}): Sqlite {
  if (!fs.existsSync(file)) throw new NotFoundError(`no database at ${file}: run "hedgerow init" (or restore a backup)`, 'DB_NOT_FOUND');
  let db: Sqlite | undefined;
  try {
    db = new BetterSqlite3(file, { readonly: opts.readonly ?? false, fileMustExist: true });
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // fails here on a file that is not a database
    return db;
  } catch (err) {
    db?.close();
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new StoreError('DB_CORRUPT', `${file} is corrupt or not a SQLite database (${code})`, err);
    throw new StoreError('DB_OPEN_FAILED', `${file}: ${(err as Error).message}`, err);
  }
}

export function readSchemaVersion(file: string): number {
  const db = openWithoutMigrating(file);
  try {
    return schemaVersion(db);
  } finally {
    db.close();
  }
}

/**
 * Refuses (ConflictError) when another process has the database open, i.e. a connector is running on this data
 * directory: taking SQLite's exclusive lock fails at once while any other connection to a WAL database is open,
 * even an idle one. When free, the WAL is checkpointed into the main file and removed, so the file can be moved.
 */
export function assertNotInUse(file: string, what: string): void {
  const db = openWithoutMigrating(file, { busyTimeoutMs: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new ConflictError(`${file} is in use, a connector is running on this data directory: stop it first (systemctl stop hedgerow) to ${what}`, 'DB_IN_USE');
    }
    throw err;
  } finally {
    db.close();
  }
}
