/**
 * `hedgerow backup`: one archive with a consistent copy of the database (taken online, while the connector runs),
 * the configuration file in use and the certificates directory. Format: see backup-format.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tarLib } from '../lazy';
import type { HedgerowConfig } from '../config/schema';
import { HedgerowError, UsageError } from '../errors';
import { integrityCheck, schemaVersion } from '../store/database';
import { Store } from '../store/store';
import { CertStore, certificateInfo } from '../pki';
import { fsyncPath, readCertificateFile } from '../pki/files';
import { VERSION } from '../version';
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  ENCRYPTED_SUFFIX,
  KeyCipher,
  MANIFEST_NAME,
  isPrivateKeyPem,
  sha256OfFile,
  type BackupManifest,
  type BackupMember,
} from './backup-format';
import { openWithoutMigrating } from './database-file';
import { listFiles } from './fs-util';

export interface BackupOptions {
  config: HedgerowConfig;
  /** The configuration file in use (`--config` / HEDGEROW_CONFIG), or null when only defaults and env apply. */
  configFile: string | null;
  out: string;
  /** Encrypts the private keys in the archive when given. */
  passphrase?: string;
}

export interface BackupResult {
  out: string;
  bytes: number;
  manifest: BackupManifest;
  /** Private keys stored without encryption (no passphrase given). */
  clearKeys: string[];
}

// The archive holds keys and the database (API key hashes, backend credentials of assets): never world-readable.
const ARCHIVE_MODE = 0o600;

export async function createBackup(opts: BackupOptions): Promise<BackupResult> {
  const { config } = opts;
  const out = path.resolve(opts.out);
  const outDir = path.dirname(out);
  if (!fs.existsSync(outDir)) throw new HedgerowError('FILE_UNWRITABLE', `cannot write ${out}: directory ${outDir} does not exist`);
  const certsDir = path.resolve(config.certsDir);
  if (out.startsWith(certsDir + path.sep)) throw new UsageError(`write the backup outside the certificates directory ${certsDir}`);
  const dbFile = Store.databaseFile(config.dataDir);
  // Staged next to the archive, not in /tmp: the same filesystem for the final rename, and tmpfs is small on boards.
  const staging = fs.mkdtempSync(path.join(outDir, '.hedgerow-backup-'));
  try {
    const cipher = opts.passphrase ? KeyCipher.create(opts.passphrase) : null;
    const members: BackupMember[] = [];
    const clearKeys: string[] = [];
    const stage = async (member: Omit<BackupMember, 'size' | 'sha256'>, write: (file: string) => void | Promise<void>) => {
      const file = path.join(staging, member.name);
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      await write(file);
      members.push({ ...member, size: fs.statSync(file).size, sha256: await sha256OfFile(file) });
    };

    let backedUpSchema = 0;
    await stage({ name: 'database/hedgerow.db', role: 'database', target: path.basename(dbFile), mode: 0o600 }, async (file) => {
      backedUpSchema = await copyDatabase(dbFile, file);
    });

    if (opts.configFile) {
      const name = path.basename(opts.configFile);
      const mode = fs.statSync(opts.configFile).mode & 0o777;
      await stage({ name: `config/${name}`, role: 'config', target: name, mode }, (file) => fs.copyFileSync(opts.configFile!, file));
    }

    for (const relative of listCertificateFiles(config.certsDir)) {
      const source = path.join(config.certsDir, relative);
      const contents = fs.readFileSync(source);
      const mode = fs.statSync(source).mode & 0o777;
      if (!isPrivateKeyPem(contents)) {
        await stage({ name: `certs/${relative}`, role: 'certificate', target: relative, mode }, (file) => fs.writeFileSync(file, contents, { mode: 0o600 }));
      } else if (cipher) {
        const name = `certs/${relative}${ENCRYPTED_SUFFIX}`;
        const { ciphertext, iv, tag } = cipher.encrypt(name, contents);
        await stage({ name, role: 'private-key', target: relative, mode, iv, tag }, (file) => fs.writeFileSync(file, ciphertext, { mode: 0o600 }));
      } else {
        clearKeys.push(relative);
        await stage({ name: `certs/${relative}`, role: 'private-key', target: relative, mode }, (file) => fs.writeFileSync(file, contents, { mode: 0o600 }));
      }
    }

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      hedgerowVersion: VERSION,
      schemaVersion: backedUpSchema,
      createdAt: new Date().toISOString(),
      participantId: participantIdOf(config.certsDir),
      source: { dataDir: path.resolve(config.dataDir), certsDir: path.resolve(config.certsDir), configFile: opts.configFile && path.resolve(opts.configFile) },
      encryption: cipher?.params ?? null,
      members,
    };
    fs.writeFileSync(path.join(staging, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });

    // Written inside the 0700 staging directory (a name in outDir could be a planted symlink) and created exclusively,
    // 0600 before the first byte of a key lands in it; the staging directory is removed whatever happens.
    const temp = path.join(staging, 'archive.tmp');
    fs.writeFileSync(temp, '', { mode: ARCHIVE_MODE, flag: 'wx' });
    // The manifest goes first, so `tar -tzf` and a streaming reader see it before the members.
    await tarLib().create({ file: temp, cwd: staging, gzip: true, portable: true }, [MANIFEST_NAME, ...members.map((m) => m.name)]);
    fs.chmodSync(temp, ARCHIVE_MODE);
    fsyncPath(temp);
    fs.renameSync(temp, out);
    fsyncPath(outDir);
    return { out, bytes: fs.statSync(out).size, manifest, clearKeys };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Online copy with SQLite's backup API through a separate connection, so it works while the connector runs. The
 * copy is switched to rollback-journal mode (one self-contained file) and checked before it goes into the archive.
 */
async function copyDatabase(source: string, target: string): Promise<number> {
  const db = openWithoutMigrating(source);
  try {
    await db.backup(target);
  } finally {
    db.close();
  }
  const copy = openWithoutMigrating(target);
  try {
    copy.pragma('journal_mode = DELETE');
    const problems = integrityCheck(copy);
    if (problems.join() !== 'ok') throw new HedgerowError('BACKUP_FAILED', `the database copy fails integrity_check: ${problems.slice(0, 3).join('; ')}`);
    return schemaVersion(copy);
  } finally {
    copy.close();
  }
}

/** Files of the certificates directory (relative, sorted), without leftovers of interrupted atomic writes. */
export function listCertificateFiles(certsDir: string): string[] {
  return listFiles(certsDir).filter((f) => !/^\..*\.tmp$/.test(path.basename(f)) && fs.lstatSync(path.join(certsDir, f)).isFile());
}

function participantIdOf(certsDir: string): string | null {
  try {
    const [leaf] = readCertificateFile(new CertStore(certsDir).chainFile, '');
    return leaf ? certificateInfo(leaf).participantId : null;
  } catch {
    return null; // a backup of a node without a certificate is still worth having
  }
}

/** Used in messages: where the backup was written and how big it is. */
export function describeSize(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.max(1, Math.round(bytes / 1024))} KiB`;
}
