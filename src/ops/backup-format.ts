/**
 * The backup archive format (documented in deploy/README.md): a gzip-compressed tar, readable with plain `tar`
 * in an emergency, holding
 *
 *   manifest.json             what is inside (first member): versions, time, and per member its role, where it
 *                             is restored to, size, mode and SHA-256 of the bytes stored in the archive
 *   database/hedgerow.db      a consistent copy made with SQLite's online backup API (rollback-journal mode, so
 *                             it is one self-contained file)
 *   config/<name>.json        the configuration file in use, if any
 *   certs/<path>              every file of the certificates directory; private keys as certs/<path>.enc when a
 *                             passphrase was given (AES-256-GCM, key from scrypt, the member name as associated
 *                             data so an encrypted key cannot be swapped for another)
 *
 * Only node:crypto primitives are used; nothing here is hand-rolled cryptography.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { HedgerowError, ValidationError } from '../errors';

export const BACKUP_FORMAT = 'hedgerow-backup';
export const BACKUP_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'manifest.json';
export const ENCRYPTED_SUFFIX = '.enc';

export type MemberRole = 'database' | 'config' | 'certificate' | 'private-key';

export interface BackupMember {
  /** Name inside the archive, e.g. `certs/connector.key.pem.enc`. */
  name: string;
  role: MemberRole;
  /** Where it goes back: relative to the data directory, the certificates directory, or the config file's name. */
  target: string;
  size: number;
  mode: number;
  /** SHA-256 (hex) of the bytes stored in the archive (the ciphertext for encrypted keys). */
  sha256: string;
  /** Present on encrypted private keys: GCM nonce and tag (base64). */
  iv?: string;
  tag?: string;
}

export interface KeyEncryption {
  cipher: 'aes-256-gcm';
  kdf: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  hedgerowVersion: string;
  schemaVersion: number;
  createdAt: string;
  participantId: string | null;
  /** Where things were on the machine that made the backup (information only; restore uses its own config). */
  source: { dataDir: string; certsDir: string; configFile: string | null };
  encryption: KeyEncryption | null;
  members: BackupMember[];
}

// scrypt cost: 2^15 x 8 needs 32 MiB and about 0.1 s on x86, well under a second on a Raspberry Pi 4.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 };
// Refuse archives asking for absurd KDF work (a crafted manifest must not exhaust a small board).
const SCRYPT_MAX_N = 2 ** 20;
const scryptMaxmem = (N: number, r: number) => 256 * N * r;

/** Derives the archive key once per backup or restore; the salt is stored in the manifest. */
export class KeyCipher {
  private constructor(
    private readonly key: Buffer,
    readonly params: KeyEncryption,
  ) {}

  static create(passphrase: string): KeyCipher {
    const params: KeyEncryption = { cipher: 'aes-256-gcm', kdf: 'scrypt', salt: randomBytes(16).toString('base64'), ...SCRYPT };
    return new KeyCipher(KeyCipher.derive(passphrase, params), params);
  }

  static fromManifest(passphrase: string, params: KeyEncryption): KeyCipher {
    if (params.cipher !== 'aes-256-gcm' || params.kdf !== 'scrypt') {
      throw new ValidationError(`unsupported key encryption ${params.cipher}/${params.kdf}`, '/encryption');
    }
    const { N, r, p } = params;
    if (![N, r, p].every(Number.isInteger) || N < 2 || N > SCRYPT_MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) {
      throw new ValidationError('scrypt parameters out of range', '/encryption');
    }
    return new KeyCipher(KeyCipher.derive(passphrase, params), params);
  }

  private static derive(passphrase: string, params: KeyEncryption): Buffer {
    return scryptSync(passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), 32, {
      N: params.N,
      r: params.r,
      p: params.p,
      maxmem: scryptMaxmem(params.N, params.r),
    });
  }

  encrypt(name: string, plaintext: Buffer): { ciphertext: Buffer; iv: string; tag: string } {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  decrypt(member: BackupMember, ciphertext: Buffer): Buffer {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(member.iv ?? '', 'base64'));
      decipher.setAAD(Buffer.from(member.name, 'utf8'));
      decipher.setAuthTag(Buffer.from(member.tag ?? '', 'base64'));
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new HedgerowError('BACKUP_BAD_PASSPHRASE', `cannot decrypt ${member.name}: wrong passphrase or damaged archive`, { exitCode: 77 });
    }
  }
}

/** PEM private keys of any kind (PKCS#8, encrypted PKCS#8, SEC1 EC, PKCS#1 RSA). */
export function isPrivateKeyPem(contents: Buffer): boolean {
  return /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/.test(contents.toString('latin1'));
}

/** A relative path without `.`/`..` components or odd characters: safe to join under a directory we own. */
export function isSafeRelativePath(p: unknown): p is string {
  return (
    typeof p === 'string' &&
    p.length <= 255 &&
    /^[A-Za-z0-9._@+\-/]+$/.test(p) &&
    p.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
  );
}

/** Checks a parsed manifest's shape; every later step relies on it. */
export function validateManifest(value: unknown): BackupManifest {
  const bad = (message: string, at: string): never => {
    throw new ValidationError(`manifest: ${message}`, at);
  };
  if (typeof value !== 'object' || value === null) bad('not a JSON object', '');
  const m = value as Record<string, unknown>;
  if (m.format !== BACKUP_FORMAT) bad(`not a hedgerow backup (format ${JSON.stringify(m.format)})`, '/format');
  if (m.formatVersion !== BACKUP_FORMAT_VERSION) {
    bad(`format version ${String(m.formatVersion)} is not supported by this hedgerow (it reads ${BACKUP_FORMAT_VERSION}): use a newer hedgerow`, '/formatVersion');
  }
  if (!Number.isInteger(m.schemaVersion) || (m.schemaVersion as number) < 1) bad('schemaVersion must be a positive integer', '/schemaVersion');
  if (!Array.isArray(m.members)) bad('members must be a list', '/members');
  const names = new Set<string>();
  (m.members as unknown[]).forEach((raw, i) => {
    const at = `/members/${i}`;
    const member = raw as Partial<BackupMember>;
    if (typeof member !== 'object' || member === null) bad('not an object', at);
    if (!isSafeRelativePath(member.name) || member.name === MANIFEST_NAME) bad('unsafe or missing name', `${at}/name`);
    if (names.has(member.name!)) bad(`${member.name} listed twice`, `${at}/name`);
    names.add(member.name!);
    if (!['database', 'config', 'certificate', 'private-key'].includes(member.role as string)) bad('unknown role', `${at}/role`);
    if (!isSafeRelativePath(member.target)) bad('unsafe or missing target', `${at}/target`);
    if (member.role !== 'certificate' && member.role !== 'private-key' && member.target!.includes('/')) bad('target must be a plain file name', `${at}/target`);
    if (!Number.isInteger(member.size) || !Number.isInteger(member.mode)) bad('size and mode must be integers', at);
    if (typeof member.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(member.sha256)) bad('sha256 must be 64 hex digits', `${at}/sha256`);
    if ((member.iv === undefined) !== (member.tag === undefined)) bad('iv and tag go together', at);
    if (member.iv !== undefined && member.role !== 'private-key') bad('only private keys are encrypted', at);
  });
  const members = m.members as BackupMember[];
  if (members.filter((x) => x.role === 'database').length !== 1) bad('exactly one database member expected', '/members');
  if (members.filter((x) => x.role === 'config').length > 1) bad('at most one configuration file expected', '/members');
  if (members.some((x) => x.iv !== undefined) && (typeof m.encryption !== 'object' || m.encryption === null)) bad('encrypted members but no encryption parameters', '/encryption');
  return m as unknown as BackupManifest;
}

/** SHA-256 (hex) of a file, streamed: a database can be larger than a small board's free memory. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
