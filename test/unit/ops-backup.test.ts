import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { create as createTar, extract as extractTar, list as listTar } from 'tar';
import { runCli } from '../../src/cli/main';
import type { CommandIo } from '../../src/cli/command';
import { loadConfig } from '../../src/config/load';
import { initialiseNode } from '../../src/setup/initialise';
import { Store } from '../../src/store/store';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations';
import { VERSION } from '../../src/version';
import { validateManifest, type BackupManifest } from '../../src/ops/backup-format';

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, isTty: false };
  const code = await runCli(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** Every file below dir with its SHA-256: "nothing was replaced" is then one toEqual. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = sha256(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

async function members(archive: string): Promise<string[]> {
  const names: string[] = [];
  await listTar({ file: archive, onReadEntry: (e) => names.push(e.path) });
  return names;
}

async function manifestOf(archive: string, into: string): Promise<BackupManifest> {
  fs.mkdirSync(into, { recursive: true });
  await extractTar({ file: archive, cwd: into });
  return JSON.parse(fs.readFileSync(path.join(into, 'manifest.json'), 'utf8'));
}

describe('hedgerow backup and restore', () => {
  let dir: string;
  let node: { data: string; certs: string; config: string };
  let apiKey: string;
  const flags = (n: { data: string; certs: string; config?: string }) => ['--data-dir', n.data, '--certs-dir', n.certs, ...(n.config ? ['--config', n.config] : [])];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-backup-'));
    node = { data: path.join(dir, 'node', 'data'), certs: path.join(dir, 'node', 'certs'), config: path.join(dir, 'node', 'hedgerow.json') };
    fs.mkdirSync(path.dirname(node.config));
    fs.writeFileSync(node.config, JSON.stringify({ log: { level: 'warn' } }), { mode: 0o640 });
    const { config } = loadConfig({ env: {}, file: node.config, overrides: { dataDir: node.data, certsDir: node.certs } });
    apiKey = initialiseNode(config, { participantId: 'did:web:farm1.coop.example', hostnames: ['farm1.coop.example'] }).apiKey!;
    const store = Store.open(node.data);
    store.policies.insert({ id: 'policy-before-backup', title: null, policy: { permission: [{ action: 'use' }] } as never });
    store.close();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes one 0600 archive: manifest first, SHA-256 of every member, versions; warns that keys are in clear', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    const r = await cli(['backup', '--out', archive, ...flags(node)]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^hedgerow: warning: private keys stored in clear in the backup \(connector\.key\.pem, dev-ca\/ca\.key\.pem\)/);
    expect(mode(archive)).toBe(0o600);
    const names = await members(archive);
    expect(names[0]).toBe('manifest.json');
    expect(names).toEqual(expect.arrayContaining(['database/hedgerow.db', 'config/hedgerow.json', 'certs/connector.key.pem', 'certs/connector.crt.pem', 'certs/dev-ca/ca.key.pem']));

    const unpacked = path.join(dir, 'unpacked');
    const manifest = await manifestOf(archive, unpacked);
    expect(manifest).toMatchObject({ format: 'hedgerow-backup', formatVersion: 1, hedgerowVersion: VERSION, schemaVersion: LATEST_SCHEMA_VERSION, participantId: 'did:web:farm1.coop.example', encryption: null });
    expect(Date.now() - Date.parse(manifest.createdAt)).toBeLessThan(60_000);
    expect(manifest.members.map((m) => m.name).sort()).toEqual(names.slice(1).sort());
    for (const m of manifest.members) expect(sha256(path.join(unpacked, m.name))).toBe(m.sha256);
    // The database copy is one self-contained file that passes integrity_check.
    const copy = new BetterSqlite3(path.join(unpacked, 'database', 'hedgerow.db'), { readonly: true });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(copy.prepare('SELECT id FROM policies').all()).toEqual([{ id: 'policy-before-backup' }]);
    copy.close();
  });

  it('writes the archive through no name an attacker can plant in the output directory', async () => {
    const outDir = path.join(dir, 'out');
    fs.mkdirSync(outDir);
    const archive = path.join(outDir, 'b.tar.gz');
    // The name the temporary archive used to have, planted as a symlink to a file the attacker can read.
    const victim = path.join(dir, 'attacker-readable');
    fs.writeFileSync(victim, 'untouched');
    fs.symlinkSync(victim, path.join(outDir, `.b.tar.gz.${process.pid}.tmp`));
    const r = await cli(['backup', '--out', archive, ...flags(node)]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
    expect(fs.lstatSync(archive).isFile()).toBe(true);
    expect(mode(archive)).toBe(0o600);
    expect((await members(archive))[0]).toBe('manifest.json');
    expect(fs.readdirSync(outDir).sort()).toEqual([`.b.tar.gz.${process.pid}.tmp`, 'b.tar.gz']); // no staging left behind
  });

  it('restores onto an empty machine: database, keys 0600 in 0700 directories, trust anchors, configuration', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    expect((await cli(['backup', '--out', archive, ...flags(node)])).code).toBe(0);
    const fresh = { data: path.join(dir, 'fresh', 'data'), certs: path.join(dir, 'fresh', 'certs'), config: path.join(dir, 'fresh', 'hedgerow.json') };
    fs.mkdirSync(path.dirname(fresh.config));
    fs.writeFileSync(fresh.config, '{}');
    const r = await cli(['restore', archive, ...flags(fresh)]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/restored backup of did:web:farm1\.coop\.example/);
    expect(r.out).toMatch(/configuration: +restored/);
    expect(snapshot(fresh.certs)).toEqual(snapshot(node.certs));
    expect(mode(path.join(fresh.certs, 'connector.key.pem'))).toBe(0o600);
    expect(mode(path.join(fresh.certs, 'dev-ca', 'ca.key.pem'))).toBe(0o600);
    expect(mode(fresh.certs)).toBe(0o700);
    expect(mode(path.join(fresh.certs, 'trust'))).toBe(0o700);
    expect(fs.readFileSync(fresh.config, 'utf8')).toBe(fs.readFileSync(node.config, 'utf8'));
    expect(fs.readdirSync(fresh.data)).toEqual(['hedgerow.db']); // no staging left behind
    const store = Store.open(fresh.data);
    try {
      expect(store.apiKeys.verify(apiKey)).not.toBeNull();
      expect(store.policies.get('policy-before-backup')).toBeDefined();
    } finally {
      store.close();
    }
  });

  it('encrypts the keys with a passphrase, and restore needs the right one before it replaces anything', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    const passFile = path.join(dir, 'pass');
    fs.writeFileSync(passFile, 'correct horse battery staple\n');
    const b = await cli(['backup', '--out', archive, '--passphrase-file', passFile, ...flags(node)]);
    expect(b.err).toBe('');
    expect(b.code).toBe(0);
    expect(zlib.gunzipSync(fs.readFileSync(archive)).toString('latin1')).not.toContain('PRIVATE KEY');
    expect(await members(archive)).toEqual(expect.arrayContaining(['certs/connector.key.pem.enc', 'certs/dev-ca/ca.key.pem.enc']));

    const target = { data: path.join(dir, 't', 'data'), certs: path.join(dir, 't', 'certs') };
    const none = await cli(['restore', archive, ...flags(target)]);
    expect(none.code).toBe(64);
    expect(none.err).toMatch(/encrypted: give the passphrase/);
    const wrong = await cli(['restore', archive, ...flags(target)], { HEDGEROW_BACKUP_PASSPHRASE: 'wrong' });
    expect(wrong.code).toBe(77);
    expect(wrong.err).toMatch(/wrong passphrase or damaged archive/);
    expect(snapshot(path.join(dir, 't'))).toEqual({}); // nothing written

    const ok = await cli(['restore', archive, ...flags(target)], { HEDGEROW_BACKUP_PASSPHRASE: 'correct horse battery staple' });
    expect(ok.code).toBe(0);
    expect(snapshot(target.certs)).toEqual(snapshot(node.certs));
    expect(mode(path.join(target.certs, 'connector.key.pem'))).toBe(0o600);
  });

  it('refuses a damaged archive before replacing anything', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    await cli(['backup', '--out', archive, ...flags(node)]);
    const unpacked = path.join(dir, 'unpacked');
    const manifest = await manifestOf(archive, unpacked);
    const dbCopy = path.join(unpacked, 'database', 'hedgerow.db');
    const bytes = fs.readFileSync(dbCopy);
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(dbCopy, bytes);
    const damaged = path.join(dir, 'damaged.tar.gz');
    await createTar({ file: damaged, cwd: unpacked, gzip: true }, ['manifest.json', ...manifest.members.map((m) => m.name)]);

    const before = snapshot(path.join(dir, 'node'));
    const r = await cli(['restore', damaged, ...flags(node)]);
    expect(r.code).toBe(65);
    expect(r.err).toMatch(/database\/hedgerow\.db does not match its SHA-256 in the manifest: damaged archive/);
    expect(snapshot(path.join(dir, 'node'))).toEqual(before);

    fs.writeFileSync(path.join(dir, 'not-a-backup.tar.gz'), 'hello');
    const junk = await cli(['restore', path.join(dir, 'not-a-backup.tar.gz'), ...flags(node)]);
    expect(junk.code).toBe(65);
    expect(snapshot(path.join(dir, 'node'))).toEqual(before);
  });

  it('refuses while a connector has the database open', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    await cli(['backup', '--out', archive, ...flags(node)]);
    const running = Store.open(node.data); // what a running connector holds
    try {
      const before = snapshot(path.join(dir, 'node'));
      const r = await cli(['restore', archive, ...flags(node)]);
      expect(r.code).toBe(73);
      expect(r.err).toMatch(/is in use, a connector is running on this data directory: stop it first/);
      expect(snapshot(path.join(dir, 'node'))).toEqual(before);
    } finally {
      running.close();
    }
  });

  it('refuses to go back from a newer database unless --force, and keeps the replaced one', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    await cli(['backup', '--out', archive, ...flags(node)]);
    const db = new BetterSqlite3(Store.databaseFile(node.data));
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`); // as if a newer release had migrated it
    db.close();
    const refused = await cli(['restore', archive, ...flags(node)]);
    expect(refused.code).toBe(73);
    expect(refused.err).toMatch(`schema version ${LATEST_SCHEMA_VERSION + 1}, newer than the backup's ${LATEST_SCHEMA_VERSION}`);

    const forced = await cli(['restore', archive, '--force', ...flags(node)]);
    expect(forced.code).toBe(0);
    const kept = new BetterSqlite3(Store.databaseFile(node.data) + '.before-restore', { readonly: true });
    expect(kept.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION + 1);
    kept.close();
  });

  it('refuses a backup whose schema is newer than this hedgerow supports', async () => {
    const db = new BetterSqlite3(Store.databaseFile(node.data));
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const archive = path.join(dir, 'b.tar.gz');
    expect((await cli(['backup', '--out', archive, ...flags(node)])).code).toBe(0);
    const target = { data: path.join(dir, 't', 'data'), certs: path.join(dir, 't', 'certs') };
    const r = await cli(['restore', archive, ...flags(target)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/newer than this hedgerow supports .*restore it with a newer hedgerow/);
    expect(snapshot(target.certs)).toEqual({});
  });

  it('--check verifies and reports, and changes nothing; a restore removes certificate files the backup did not have', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    await cli(['backup', '--out', archive, ...flags(node)]);
    fs.writeFileSync(path.join(node.certs, 'trust', 'added-later.pem'), 'not in the backup');
    const before = snapshot(path.join(dir, 'node'));
    const check = await cli(['restore', archive, '--check', ...flags(node)]);
    expect(check.code).toBe(0);
    expect(check.out).toMatch(/verified backup/);
    expect(check.out).toMatch(/would remove trust\/added-later\.pem/);
    expect(snapshot(path.join(dir, 'node'))).toEqual(before);

    expect((await cli(['restore', archive, ...flags(node)])).code).toBe(0);
    expect(fs.existsSync(path.join(node.certs, 'trust', 'added-later.pem'))).toBe(false);
  });

  it('a backup without certificates warns, and restoring it leaves the certificates in place alone', async () => {
    const archive = path.join(dir, 'b.tar.gz');
    const b = await cli(['backup', '--out', archive, '--data-dir', node.data, '--certs-dir', path.join(dir, 'no-such-certs')]);
    expect(b.code).toBe(0);
    expect(b.err).toMatch(/warning: no connector key in .*no-such-certs: the backup holds the database only/);
    const certs = snapshot(node.certs);
    const r = await cli(['restore', archive, ...flags({ data: node.data, certs: node.certs })]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/the backup holds no certificates: .* is left as it is/);
    expect(snapshot(node.certs)).toEqual(certs);
    expect((await cli(['backup', '--out', path.join(node.certs, 'inside.tar.gz'), ...flags(node)])).err).toMatch(/outside the certificates directory/);
  });

  it('validates the manifest: unsafe names, unknown format versions, duplicate databases', () => {
    const good = {
      format: 'hedgerow-backup',
      formatVersion: 1,
      schemaVersion: 2,
      members: [{ name: 'database/hedgerow.db', role: 'database', target: 'hedgerow.db', size: 1, mode: 384, sha256: 'a'.repeat(64) }],
      encryption: null,
    };
    expect(() => validateManifest(good)).not.toThrow();
    const withMember = (patch: object) => ({ ...good, members: [{ ...good.members[0], ...patch }] });
    expect(() => validateManifest(withMember({ name: '../etc/passwd' }))).toThrow(/unsafe or missing name/);
    expect(() => validateManifest(withMember({ target: '/etc/hedgerow.db' }))).toThrow(/unsafe or missing target/);
    expect(() => validateManifest(withMember({ target: 'a/../../b' }))).toThrow(/unsafe or missing target/);
    expect(() => validateManifest({ ...good, formatVersion: 2 })).toThrow(/format version 2 is not supported/);
    expect(() => validateManifest({ ...good, members: [...good.members, { ...good.members[0], name: 'database/other.db' }] })).toThrow(/exactly one database/);
    expect(() => validateManifest({ ...good, format: 'tarball' })).toThrow(/not a hedgerow backup/);
  });
});
