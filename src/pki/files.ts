/**
 * File handling for keys and certificates: private directories, atomic replacement, and readers whose errors name
 * the file (never its content).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { PkiError, describeError } from '../errors';
import { readCertificatesPem } from './certificate';
import { readPrivateKeyPem } from './keys';

const PRIVATE_DIR_MODE = 0o700;
export const KEY_FILE_MODE = 0o600;
export const CERT_FILE_MODE = 0o644;

/** Creates the directory 0700, and tightens an existing one to 0700. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Replaces each file atomically: all contents are written to fsynced temporary files in the target directory first,
 * then renamed into place, then the directories are fsynced so the renames survive a power cut. If writing fails
 * (e.g. ENOSPC) the temporary files are removed and the old files are untouched: never half a key or certificate.
 */
export function writeFilesAtomically(files: Array<{ file: string; contents: string; mode: number }>): void {
  const staged: Array<{ temp: string; file: string }> = [];
  try {
    for (const { file, contents, mode } of files) {
      const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
      const fd = fs.openSync(temp, 'wx', mode);
      staged.push({ temp, file });
      try {
        fs.fchmodSync(fd, mode); // the umask must not change the intended mode
        fs.writeFileSync(fd, contents);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const { temp, file } of staged) fs.renameSync(temp, file);
  } catch (err) {
    for (const { temp } of staged) fs.rmSync(temp, { force: true });
    throw err;
  }
  for (const dir of new Set(files.map(({ file }) => path.dirname(file)))) fsyncPath(dir);
}

/** Flushes a file's contents, or a directory's entries (after a rename into it), to the device. */
export function fsyncPath(fileOrDir: string): void {
  const fd = fs.openSync(fileOrDir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a private key file; `hint` says what to do when it is missing (e.g. `run "hedgerow init"`). */
export function readPrivateKeyFile(file: string, hint: string): KeyObject {
  const pem = readTextFile(file, 'KEY_INVALID', `no private key at ${file}: ${hint}`);
  return withFileName(file, () => readPrivateKeyPem(pem));
}

/** Reads a PEM certificate file (one or more certificates); `hint` as for readPrivateKeyFile. */
export function readCertificateFile(file: string, hint: string): X509Certificate[] {
  const pem = readTextFile(file, 'CERT_INVALID', `no certificate at ${file}: ${hint}`);
  return withFileName(file, () => readCertificatesPem(pem));
}

function readTextFile(file: string, code: 'KEY_INVALID' | 'CERT_INVALID', missingMessage: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PkiError(code, missingMessage);
    throw new PkiError(code, `cannot read ${file}: ${describeError(err)}`, err);
  }
}

/** Re-throws PKI errors with the file name in front, so the user knows which file to fix. */
function withFileName<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof PkiError) throw new PkiError(err.code, `${file}: ${err.message}`, err.cause);
    throw err;
  }
}
