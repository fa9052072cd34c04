import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { integrityCheck, migrate, openDatabase, pendingMigrations, schemaVersion } from '../../src/store/database';
import { LATEST_SCHEMA_VERSION, type Migration } from '../../src/store/migrations';
import { Store } from '../../src/store/store';
import { StoreError } from '../../src/errors';

describe('store', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens with WAL, FULL sync, foreign keys and the latest schema', () => {
    const store = Store.open(dir);
    try {
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
      expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(schemaVersion(store.db)).toBe(LATEST_SCHEMA_VERSION);
      expect(integrityCheck(store.db)).toEqual(['ok']);
    } finally {
      store.close();
    }
  });

  it('applies pending migrations in one transaction: all or nothing', () => {
    const file = path.join(dir, 'm.db');
    const good: Migration[] = [
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' },
      { version: 2, name: 'b', sql: 'CREATE TABLE b (x INTEGER)' },
    ];
    const db = openDatabase(file, { migrations: good.slice(0, 1) });
    expect(schemaVersion(db)).toBe(1);
    expect(pendingMigrations(db, good).map((m) => m.version)).toEqual([2]);
    const broken: Migration[] = [...good, { version: 3, name: 'c', sql: 'CREATE TABLE c (x INTEGER); THIS IS NOT SQL' }];
    expect(() => migrate(db, broken)).toThrow(/schema migration failed, database unchanged/);
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('b','c')").get()).toEqual({ n: 0 });
    expect(migrate(db, good)).toBe(1);
    expect(schemaVersion(db)).toBe(2);
    db.close();
  });

  it('refuses a database newer than the code', () => {
    const file = Store.databaseFile(dir);
    const raw = new BetterSqlite3(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 5}`);
    raw.close();
    expect(() => Store.open(dir)).toThrow(StoreError);
    try {
      Store.open(dir);
    } catch (err) {
      expect((err as StoreError).code).toBe('DB_TOO_NEW');
      expect((err as Error).message).toMatch(/newer than this hedgerow supports/);
    }
  });

  it('reports a corrupt file as DB_CORRUPT without touching it', () => {
    const file = Store.databaseFile(dir);
    const garbage = Buffer.alloc(8192, 0x41);
    fs.writeFileSync(file, garbage);
    expect(() => Store.open(dir)).toThrow(expect.objectContaining({ code: 'DB_CORRUPT' }));
    expect(fs.readFileSync(file).equals(garbage)).toBe(true);
  });

  it('stores API keys only as hashes and verifies them', () => {
    const store = Store.open(dir);
    try {
      const { id, key } = store.apiKeys.create('test');
      expect(store.apiKeys.verify(key)).toBe(id);
      expect(store.apiKeys.verify(key + 'x')).toBeNull();
      const dump = JSON.stringify(store.db.prepare('SELECT * FROM api_keys').all());
      expect(dump).not.toContain(key);
      expect(store.apiKeys.revoke(id)).toBe(true);
      expect(store.apiKeys.verify(key)).toBeNull();
    } finally {
      store.close();
    }
  });
});
