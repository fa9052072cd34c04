/**
 * A certificate authority on disk: `<dir>/ca.key.pem` (0600) and `<dir>/ca.crt.pem` in a 0700 directory. Used for
 * a dataspace CA made by `hedgerow ca init` and for a node's development CA (`<certs>/dev-ca`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PkiError } from '../errors';
import { certificateToPem, type CertificateAuthority } from './certificate';
import { assertMayIssue, verifyKeyPair } from './chain';
import {
  CERT_FILE_MODE,
  KEY_FILE_MODE,
  ensurePrivateDir,
  readCertificateFile,
  readPrivateKeyFile,
  writeFilesAtomically,
} from './files';
import { keyMatchesCertificate, privateKeyToPem } from './keys';
import { certificateLabel } from './x509';

const caFiles = (dir: string) => ({ keyFile: path.join(dir, 'ca.key.pem'), certFile: path.join(dir, 'ca.crt.pem') });

/** True if either CA file exists (a half-present CA is then reported by loadCaDirectory). */
export function caDirectoryExists(dir: string): boolean {
  const { keyFile, certFile } = caFiles(dir);
  return fs.existsSync(keyFile) || fs.existsSync(certFile);
}

/** Loads the CA; PkiError naming the missing or broken file, KEY_MISMATCH if key and certificate differ. */
export function loadCaDirectory(dir: string, hint = `run "hedgerow ca init --dir ${dir}"`): CertificateAuthority {
  const { keyFile, certFile } = caFiles(dir);
  const privateKey = readPrivateKeyFile(keyFile, hint);
  const [certificate] = readCertificateFile(certFile, hint);
  if (!keyMatchesCertificate(privateKey, certificate!)) {
    throw new PkiError('KEY_MISMATCH', `${keyFile} does not match the certificate ${certificateLabel(certificate!)} in ${certFile}`);
  }
  return { certificate: certificate!, privateKey };
}

/** Stores the CA atomically. Refuses (KEYS_EXIST) to replace an existing CA key unless `force`. */
export function saveCaDirectory(dir: string, ca: CertificateAuthority, { force = false }: { force?: boolean } = {}): void {
  assertMayIssue(ca.certificate, 0);
  verifyKeyPair(ca.privateKey, ca.certificate);
  const { keyFile, certFile } = caFiles(dir);
  if (!force && fs.existsSync(keyFile)) {
    throw new PkiError('KEYS_EXIST', `a CA key already exists at ${keyFile}: refusing to replace it without --force`);
  }
  ensurePrivateDir(dir);
  writeFilesAtomically([
    { file: keyFile, contents: privateKeyToPem(ca.privateKey), mode: KEY_FILE_MODE },
    { file: certFile, contents: certificateToPem(ca.certificate), mode: CERT_FILE_MODE },
  ]);
}
