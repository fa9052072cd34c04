import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../errors';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations';

export type Sqlite = BetterSqlite3.Database;

export const DATABASE_FILE_NAME = 'hedgerow.db';

export interface OpenOptions {
  busyTimeoutMs?: number;
  /** Open without creating or migrating (doctor, status commands). */
  readonly?: boolean;
  migrations?: readonly Migration[];
}

function wrapSqliteError(err: unknown, file: string): StoreError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError('DB_CORRUPT', `database ${file} is corrupt or not a SQLite database (${code})`, err);
  }
  if (code === 'SQLITE_FULL') return new StoreError('DISK_FULL', `database ${file}: disk full`, err);
  if (code === 'SQLITE_CANTOPEN') return new StoreError('DB_OPEN_FAILED', `database ${file} cannot be opened (missing directory or no permission)`, err);
  return new StoreError('DB_OPEN_FAILED', `database ${file}: ${(err as Error).message}`, err);
}

/**
 * Open the database with the settings every connection needs:
 * - WAL, so readers (catalog, GETs) never block the writer;
 * - synchronous=FULL: a transition we acknowledged to a peer must survive a power cut on an SD-card
 *   box; NORMAL in WAL mode can lose the last commits on power loss, which would make us deny a
 *   state the peer already relies on. FULL costs one extra fsync per commit, which we can afford;
 * - foreign keys on, and a busy timeout so a second process (a CLI command) waits rather than fails.
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Sqlite {
  if (opts.readonly && !fs.existsSync(file)) {
    throw new StoreError('DB_OPEN_FAILED', `database ${file} does not exist: run "hedgerow init"`);
  }
  if (!opts.readonly) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let db: Sqlite | undefined;
  try {
    const created = !opts.readonly && !fs.existsSync(file);
    db = new BetterSqlite3(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    // The database holds backend credentials and agreements: owner-only, like the keys.
    if (created) fs.chmodSync(file, 0o600);
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    // Touch the schema so a file that is not a database fails here, not at the first query.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!opts.readonly) migrate(db, opts.migrations ?? MIGRATIONS);
    else assertNotNewer(db, opts.migrations ?? MIGRATIONS);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof StoreError) throw err;
    throw wrapSqliteError(err, file);
  }
}

/**
 * A second connection to the same database for bookkeeping whose loss on a power cut is harmless
 * (ids of peer tokens already seen, kept for five minutes): synchronous=NORMAL, so its commits do
 * not wait for an fsync. It never writes protocol state.
 */
export function openBookkeeping(file: string, busyTimeoutMs = 5000): Sqlite {
  const db = new BetterSqlite3(file, { fileMustExist: true });
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  db.pragma('synchronous = NORMAL');
  return db;
}

export function schemaVersion(db: Sqlite): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function assertNotNewer(db: Sqlite, migrations: readonly Migration[]): number {
  const current = schemaVersion(db);
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  if (current > latest) {
    throw new StoreError(
      'DB_TOO_NEW',
      `database schema version ${current} is newer than this hedgerow supports (${latest}): upgrade hedgerow or restore a matching backup`,
    );
  }
  return current;
}

/** Pending migrations, for `hedgerow migrate --status`. */
export function pendingMigrations(db: Sqlite, migrations: readonly Migration[] = MIGRATIONS): Migration[] {
  const current = assertNotNewer(db, migrations);
  return migrations.filter((m) => m.version > current);
}

/** Apply every pending migration in one transaction: all of them or none. */
export function migrate(db: Sqlite, migrations: readonly Migration[] = MIGRATIONS): number {
  const pending = pendingMigrations(db, migrations);
  if (pending.length === 0) return 0;
  try {
    db.transaction(() => {
      for (const m of pending) {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }
    }).immediate();
  } catch (err) {
    throw new StoreError('DB_MIGRATION_FAILED', `schema migration failed, database unchanged: ${(err as Error).message}`, err);
  }
  return pending.length;
}

/** `PRAGMA integrity_check`: 'ok' or the first problems SQLite reports. */
export function integrityCheck(db: Sqlite): string[] {
  return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
}

export { LATEST_SCHEMA_VERSION };
