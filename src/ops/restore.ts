/**
 * `hedgerow restore`: everything is verified BEFORE anything is replaced (manifest, every member's SHA-256, key
 * decryption, the database's integrity_check and schema version, the database in place and whether a connector
 * uses it); then the certificates are replaced atomically and the database file is swapped by rename. The database
 * that was replaced is kept as hedgerow.db.before-restore, so a restore can be undone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tarLib } from '../lazy';
import type { HedgerowConfig } from '../config/schema';
import { ConflictError, HedgerowError, NotFoundError, StoreError, UsageError, ValidationError, describeError } from '../errors';
import { LATEST_SCHEMA_VERSION, integrityCheck, schemaVersion } from '../store/database';
import { Store } from '../store/store';
import { CERT_FILE_MODE, KEY_FILE_MODE, ensurePrivateDir, fsyncPath, writeFilesAtomically } from '../pki/files';
import { KeyCipher, MANIFEST_NAME, isPrivateKeyPem, sha256OfFile, validateManifest, type BackupManifest } from './backup-format';
import { listCertificateFiles } from './backup';
import { assertNotInUse, openWithoutMigrating, readSchemaVersion } from './database-file';
import { listFiles } from './fs-util';

export interface RestoreOptions {
  config: HedgerowConfig;
  /** The configuration file in use; the backed-up configuration is written there (and only there). */
  configFile: string | null;
  archive: string;
  passphrase?: string;
  /** Replace a database whose schema is newer than the backup's. */
  force?: boolean;
  /** Verify the archive and report what would happen, replace nothing. */
  checkOnly?: boolean;
}

export interface RestoreResult {
  manifest: BackupManifest;
  /** Schema version of the database that is (or was) in place; null when there was none or it was unreadable. */
  currentSchemaVersion: number | null;
  databaseReplaced: boolean;
  /** Where the replaced database was kept. */
  previousDatabase: string | null;
  certificatesWritten: string[];
  certificatesRemoved: string[];
  config: 'restored' | 'unchanged' | 'not restored' | 'not in backup';
  warnings: string[];
}

export const PREVIOUS_DATABASE_SUFFIX = '.before-restore';

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const { config } = opts;
  const archive = path.resolve(opts.archive);
  if (!fs.existsSync(archive)) throw new NotFoundError(`no backup archive at ${archive}`);
  const dataDir = path.resolve(config.dataDir);
  const dbFile = Store.databaseFile(dataDir);
  if (!opts.checkOnly) fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Staged inside the data directory, so the database moves into place with a rename on the same filesystem.
  const staging = fs.mkdtempSync(path.join(opts.checkOnly ? os.tmpdir() : dataDir, '.restore-'));
  const warnings: string[] = [];
  try {
    // ---- 1. the archive: manifest, members, digests, keys
    await extractArchive(archive, staging);
    const manifest = readManifest(staging);
    await verifyMembers(staging, manifest);
    const cipher = manifest.members.some((m) => m.iv) ? keyCipherFor(manifest, opts.passphrase) : null;
    const certFiles = manifest.members
      .filter((m) => m.role === 'certificate' || m.role === 'private-key')
      .map((m) => {
        const stored = fs.readFileSync(path.join(staging, m.name));
        const contents = m.iv ? cipher!.decrypt(m, stored) : stored;
        if (m.role === 'private-key' && !isPrivateKeyPem(contents)) throw new ValidationError(`${m.name} is not a PEM private key`, '/members');
        const text = contents.toString('utf8');
        // Certificates and keys are PEM text; writeFilesAtomically writes strings.
        if (!Buffer.from(text, 'utf8').equals(contents)) throw new ValidationError(`${m.name} is not a text (PEM) file`, '/members');
        return { target: m.target, contents: text, mode: m.role === 'private-key' ? KEY_FILE_MODE : m.mode & CERT_FILE_MODE };
      });

    // ---- 2. the database in the archive
    const dbMember = manifest.members.find((m) => m.role === 'database')!;
    const stagedDb = path.join(staging, dbMember.name);
    verifyDatabase(stagedDb, manifest.schemaVersion);

    // ---- 3. the database in place: newer than the backup? in use?
    let currentSchemaVersion: number | null = null;
    if (fs.existsSync(dbFile)) {
      try {
        currentSchemaVersion = readSchemaVersion(dbFile);
      } catch (err) {
        warnings.push(`the database in place cannot be read (${describeError(err)}): it will be replaced`);
      }
      if (currentSchemaVersion !== null && currentSchemaVersion > manifest.schemaVersion && !opts.force) {
        throw new ConflictError(
          `the database in place has schema version ${currentSchemaVersion}, newer than the backup's ${manifest.schemaVersion}: ` +
            'restoring would take this node back to an older release; use --force if that is what you want',
          'DB_NEWER_THAN_BACKUP',
        );
      }
      if (!opts.checkOnly) {
        if (currentSchemaVersion !== null) assertNotInUse(dbFile, 'restore a backup');
        else await assertManagementPortFree(config);
      }
    }

    // ---- 4. the configuration file: only where one is in use, and only if we may write it
    const configMember = manifest.members.find((m) => m.role === 'config');
    let configPlan: RestoreResult['config'] = configMember ? 'not restored' : 'not in backup';
    let configContents: string | undefined;
    if (configMember) {
      configContents = fs.readFileSync(path.join(staging, configMember.name), 'utf8');
      if (!opts.configFile) {
        warnings.push(`the backup holds the configuration file ${configMember.target}; not restored since no --config (or HEDGEROW_CONFIG) names where it goes`);
      } else if (fs.existsSync(opts.configFile) && fs.readFileSync(opts.configFile, 'utf8') === configContents) {
        configPlan = 'unchanged';
      } else if (!isWritable(opts.configFile)) {
        warnings.push(`${opts.configFile} differs from the backup's configuration but cannot be written by this user; not restored`);
      } else {
        configPlan = 'restored';
      }
    }
    const certsDir = path.resolve(config.certsDir);
    const keep = new Set(certFiles.map((f) => f.target));
    // A backup without certificates (made with a wrong --certs-dir, say) must not empty the directory here.
    const certificatesRemoved = certFiles.length ? listCertificateFiles(certsDir).filter((f) => !keep.has(f)) : [];
    if (!certFiles.length) warnings.push(`the backup holds no certificates: ${certsDir} is left as it is`);
    const result: RestoreResult = {
      manifest,
      currentSchemaVersion,
      databaseReplaced: false,
      previousDatabase: null,
      certificatesWritten: certFiles.map((f) => f.target),
      certificatesRemoved,
      config: configPlan,
      warnings,
    };
    if (opts.checkOnly) return result;

    // ---- 5. replace: certificates (all staged, then renamed), then the database (one rename), then the config
    if (certFiles.length) {
      const certDirs = [...new Set(certFiles.map((f) => path.dirname(path.join(certsDir, f.target))))].filter((d) => d !== certsDir);
      ensurePrivateDir(certsDir);
      for (const dir of certDirs) ensurePrivateDir(dir);
      writeFilesAtomically(certFiles.map((f) => ({ file: path.join(certsDir, f.target), contents: f.contents, mode: f.mode })));
      for (const f of certificatesRemoved) fs.rmSync(path.join(certsDir, f), { force: true });
      giveToDirectoryOwner(certsDir, [...certDirs, ...certFiles.map((f) => path.join(certsDir, f.target))]);
    }

    fs.chmodSync(stagedDb, 0o600);
    fsyncPath(stagedDb);
    if (fs.existsSync(dbFile)) {
      result.previousDatabase = dbFile + PREVIOUS_DATABASE_SUFFIX;
      // WAL/SHM files beside the old database belong to it: a new database must never be opened with them.
      for (const suffix of ['', '-wal', '-shm']) {
        fs.rmSync(result.previousDatabase + suffix, { force: true });
        if (fs.existsSync(dbFile + suffix)) fs.renameSync(dbFile + suffix, result.previousDatabase + suffix);
      }
    }
    fs.renameSync(stagedDb, dbFile);
    fsyncPath(dataDir);
    giveToDirectoryOwner(dataDir, [dbFile]);
    result.databaseReplaced = true;

    if (configPlan === 'restored') writeFilesAtomically([{ file: opts.configFile!, contents: configContents!, mode: configMember!.mode & 0o664 }]);
    return result;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

async function extractArchive(archive: string, staging: string): Promise<void> {
  const refused: string[] = [];
  try {
    await tarLib().extract({
      file: archive,
      cwd: staging,
      strict: true,
      // Only plain files: a link in an archive could point a later write outside the staging directory.
      filter: (name, entry) => {
        const ok = !('type' in entry) || entry.type === 'File';
        if (!ok) refused.push(name);
        return ok;
      },
    });
  } catch (err) {
    throw new ValidationError(`${archive} is not a readable hedgerow backup (${describeError(err)})`);
  }
  if (refused.length) throw new ValidationError(`the archive holds entries that are not plain files: ${refused.slice(0, 5).join(', ')}`);
}

function readManifest(staging: string): BackupManifest {
  const file = path.join(staging, MANIFEST_NAME);
  if (!fs.existsSync(file)) throw new ValidationError(`not a hedgerow backup: no ${MANIFEST_NAME} in the archive`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ValidationError(`${MANIFEST_NAME} is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(parsed);
}

/** Every listed member present with its size and SHA-256, and nothing unlisted. */
async function verifyMembers(staging: string, manifest: BackupManifest): Promise<void> {
  const listed = new Set([MANIFEST_NAME, ...manifest.members.map((m) => m.name)]);
  const present = listFiles(staging);
  const extra = present.filter((f) => !listed.has(f));
  if (extra.length) throw new ValidationError(`the archive holds files its manifest does not list: ${extra.slice(0, 5).join(', ')}`);
  for (const member of manifest.members) {
    const file = path.join(staging, member.name);
    if (!present.includes(member.name)) throw new ValidationError(`${member.name} is listed in the manifest but missing from the archive`);
    const size = fs.statSync(file).size;
    if (size !== member.size) throw new ValidationError(`${member.name} has ${size} bytes, the manifest says ${member.size}: damaged archive`);
    if ((await sha256OfFile(file)) !== member.sha256) throw new ValidationError(`${member.name} does not match its SHA-256 in the manifest: damaged archive`);
  }
}

function keyCipherFor(manifest: BackupManifest, passphrase: string | undefined): KeyCipher {
  if (passphrase === undefined) {
    throw new UsageError('the private keys in this backup are encrypted: give the passphrase with --passphrase-file FILE or HEDGEROW_BACKUP_PASSPHRASE');
  }
  return KeyCipher.fromManifest(passphrase, manifest.encryption!);
}

function verifyDatabase(file: string, expectedVersion: number): void {
  const db = openWithoutMigrating(file, { readonly: true });
  try {
    const problems = integrityCheck(db);
    if (problems.join() !== 'ok') throw new StoreError('DB_CORRUPT', `the database in the backup fails integrity_check: ${problems.slice(0, 3).join('; ')}`);
    const version = schemaVersion(db);
    if (version !== expectedVersion) throw new ValidationError(`the database in the backup has schema version ${version}, the manifest says ${expectedVersion}`);
    if (version > LATEST_SCHEMA_VERSION) {
      throw new StoreError(
        'DB_TOO_NEW',
        `the backup's database has schema version ${version}, newer than this hedgerow supports (${LATEST_SCHEMA_VERSION}): restore it with a newer hedgerow`,
      );
    }
  } finally {
    db.close();
  }
}

/** Fallback when the database in place cannot be opened (so its lock cannot be probed): is a connector answering? */
async function assertManagementPortFree(config: HedgerowConfig): Promise<void> {
  if (!config.managementApi.port) return;
  const host = config.managementApi.host.includes(':') ? `[${config.managementApi.host}]` : config.managementApi.host;
  try {
    const res = await fetch(`http://${host}:${config.managementApi.port}/health/live`, { signal: AbortSignal.timeout(2000) });
    if (res.ok) throw new ConflictError(`a connector answers on ${host}:${config.managementApi.port}: stop it first (systemctl stop hedgerow) to restore a backup`, 'DB_IN_USE');
  } catch (err) {
    if (err instanceof HedgerowError) throw err;
    // nothing listening: fine
  }
}

function isWritable(file: string): boolean {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
    if (fs.existsSync(file)) fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Run as root on a service user's directories, restored files take the directory's owner, so the service can open them. */
function giveToDirectoryOwner(dir: string, files: string[]): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = fs.statSync(dir);
  if (uid === 0) return;
  for (const file of files) fs.chownSync(file, uid, gid);
}
