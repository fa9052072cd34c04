import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { runCli } from '../../src/cli/main';
import type { CommandIo } from '../../src/cli/command';
import { integrityCheck, schemaVersion } from '../../src/store/database';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/migrations';
import { Store } from '../../src/store/store';

const FIXTURE_V1 = path.join(__dirname, '..', 'fixtures', 'db', 'hedgerow-v1.db');

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: {}, isTty: false };
  const code = await runCli(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function schemaOf(file: string): string[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all().map((r) => r.sql);
  } finally {
    db.close();
  }
}

/** Upgrades: a database of the foundation release (schema 1) opens and migrates with its data intact. */
describe('upgrading a foundation-release database (fixture at schema version 1)', () => {
  let dir: string;
  let dataDir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-upgrade-'));
    dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    fs.copyFileSync(FIXTURE_V1, Store.databaseFile(dataDir));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is exactly the schema the version-1 migration creates (the fixture has not drifted)', () => {
    const fresh = path.join(dir, 'fresh-v1.db');
    const db = new BetterSqlite3(fresh);
    db.exec(MIGRATIONS.find((m) => m.version === 1)!.sql);
    db.close();
    expect(schemaOf(FIXTURE_V1)).toEqual(schemaOf(fresh));
    const fixture = new BetterSqlite3(FIXTURE_V1, { readonly: true });
    expect(schemaVersion(fixture)).toBe(1);
    fixture.close();
  });

  it('"migrate --status" lists the pending migrations by number and name and changes nothing', async () => {
    const before = fs.readFileSync(Store.databaseFile(dataDir));
    const r = await cli(['migrate', '--status', '--data-dir', dataDir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`schema version 1, this hedgerow's latest is ${LATEST_SCHEMA_VERSION}`);
    const pending = MIGRATIONS.filter((m) => m.version > 1);
    expect(r.out).toContain(`${pending.length} pending migration`);
    for (const m of pending) expect(r.out).toContain(`  ${m.version}  ${m.name}`);
    expect(fs.readFileSync(Store.databaseFile(dataDir)).equals(before)).toBe(true);
    expect(fs.readdirSync(dataDir)).toEqual(['hedgerow.db']); // no -wal/-shm left behind
  });

  it('"migrate" applies them; the keys and settings of the old release are still there', async () => {
    const r = await cli(['migrate', '--data-dir', dataDir]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`schema version 1 -> ${LATEST_SCHEMA_VERSION}`);
    const again = await cli(['migrate', '--status', '--data-dir', dataDir]);
    expect(again.out).toContain('no pending migrations');

    const store = Store.open(dataDir);
    try {
      expect(schemaVersion(store.db)).toBe(LATEST_SCHEMA_VERSION);
      expect(integrityCheck(store.db)).toEqual(['ok']);
      expect(store.apiKeys.verify('hr_fixture-v1-active-key')).toBe('00000000-0000-4000-8000-000000000001');
      expect(store.apiKeys.verify('hr_fixture-v1-revoked-key')).toBeNull();
      expect(store.apiKeys.list().map((k) => k.label)).toEqual(['created by hedgerow init', 'old dashboard']);
      expect(store.settings.get('initialisedAt')).toBe('2026-01-15T09:00:00.000Z');
      // The new tables work on the upgraded file.
      store.policies.insert({ id: 'p1', title: null, policy: { permission: [{ action: 'use' }] } as never });
      expect(store.policies.get('p1')?.id).toBe('p1');
    } finally {
      store.close();
    }
  });

  it('is migrated by a plain open, as "hedgerow start" does', () => {
    const store = Store.open(dataDir);
    try {
      expect(schemaVersion(store.db)).toBe(LATEST_SCHEMA_VERSION);
      expect(store.apiKeys.verify('hr_fixture-v1-active-key')).not.toBeNull();
    } finally {
      store.close();
    }
  });

  it('"migrate" refuses while another process holds the database (a running connector)', async () => {
    const running = new BetterSqlite3(Store.databaseFile(dataDir));
    running.pragma('journal_mode = WAL');
    running.prepare('SELECT count(*) FROM sqlite_master').get(); // as every connector connection has: the WAL index is open
    try {
      const r = await cli(['migrate', '--data-dir', dataDir]);
      expect(r.code).toBe(73);
      expect(r.err).toMatch(/in use, a connector is running.*stop it first/);
    } finally {
      running.close();
    }
    const db = new BetterSqlite3(Store.databaseFile(dataDir), { readonly: true });
    expect(schemaVersion(db)).toBe(1);
    db.close();
  });

  it('refuses a database newer than this hedgerow', async () => {
    const db = new BetterSqlite3(Store.databaseFile(dataDir));
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const r = await cli(['migrate', '--status', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/newer than this hedgerow supports/);
  });

  it('says so when there is no database', async () => {
    const r = await cli(['migrate', '--status', '--data-dir', path.join(dir, 'nothing')]);
    expect(r.code).toBe(66);
    expect(r.err).toMatch(/no database at .*hedgerow init/);
  });
});
