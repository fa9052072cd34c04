/**
 * The certificates directory:
 *
 *   <dir>/connector.key.pem      connector private key (PKCS#8, mode 0600)
 *   <dir>/connector.crt.pem      connector certificate chain, leaf first
 *   <dir>/trust/<sha256>.pem     one trust anchor per file, named by its lower-case SHA-256 fingerprint
 *   <dir>/dev-ca/ca.key.pem      development CA key and certificate (`hedgerow init` without an external CA)
 *   <dir>/dev-ca/ca.crt.pem
 *
 * Directories are 0700. Every write goes to a temporary file in the same directory that is fsynced and renamed over
 * the target, then the directory is fsynced: a crash or a full disk leaves either the old or the new file, never
 * half of one. Error messages name files, never key material.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { NotFoundError, PkiError, ValidationError, describeError } from '../errors';
import { caDirectoryExists, loadCaDirectory, saveCaDirectory } from './ca-directory';
import { certificateInfo, certificateToPem, type CertificateAuthority } from './certificate';
import { verifyKeyPair } from './chain';
import {
  CERT_FILE_MODE,
  KEY_FILE_MODE,
  ensurePrivateDir,
  fsyncPath,
  readCertificateFile,
  readPrivateKeyFile,
  writeFilesAtomically,
} from './files';
import { fingerprintSha256 } from './identifiers';
import { jwsAlgorithmFor, keyMatchesCertificate, privateKeyToPem } from './keys';
import { certificateFields, certificateLabel } from './x509';

const INIT_HINT = 'run "hedgerow init"';

export interface KeyAndChain {
  privateKey: KeyObject;
  /** Leaf first, then intermediates. */
  chain: X509Certificate[];
}

export interface TrustAnchorEntry {
  /** Upper-case colon-separated SHA-256 fingerprint. */
  fingerprint: string;
  subject: string;
  notAfter: Date;
  file: string;
}

export class CertStore {
  readonly keyFile: string;
  readonly chainFile: string;
  readonly trustDir: string;
  readonly devCaDir: string;

  constructor(readonly certsDir: string) {
    this.keyFile = path.join(certsDir, 'connector.key.pem');
    this.chainFile = path.join(certsDir, 'connector.crt.pem');
    this.trustDir = path.join(certsDir, 'trust');
    this.devCaDir = path.join(certsDir, 'dev-ca');
  }

  // -------------------------------------------------------------------------------------------------------------
  // Connector identity

  /** True once a connector key exists (if its certificate is missing, `loadIdentity` says so). */
  hasIdentity(): boolean {
    return fs.existsSync(this.keyFile);
  }

  loadIdentity(): KeyAndChain {
    const privateKey = readPrivateKeyFile(this.keyFile, INIT_HINT);
    const chain = readCertificateFile(this.chainFile, INIT_HINT);
    if (!keyMatchesCertificate(privateKey, chain[0]!)) {
      throw new PkiError(
        'KEY_MISMATCH',
        `${this.keyFile} does not match the certificate ${certificateLabel(chain[0]!)} in ${this.chainFile}: ` +
          're-import or renew the certificate',
      );
    }
    return { privateKey, chain };
  }

  /** Stores key and chain. Refuses (KEYS_EXIST) to replace an existing key unless `force`. */
  saveIdentity(privateKey: KeyObject, chain: X509Certificate[], { force = false }: { force?: boolean } = {}): void {
    const leaf = chain[0];
    if (!leaf) throw new PkiError('CERT_INVALID', 'cannot save an empty certificate chain');
    jwsAlgorithmFor(privateKey); // the connector key must be able to sign tokens
    verifyKeyPair(privateKey, leaf);
    if (!force && fs.existsSync(this.keyFile)) {
      throw new PkiError('KEYS_EXIST', `a connector key already exists at ${this.keyFile}: refusing to replace it without --force`);
    }
    ensurePrivateDir(this.certsDir);
    // Both files are staged before either is renamed, so the window with a new key and an old chain is tiny.
    writeFilesAtomically([
      { file: this.keyFile, contents: privateKeyToPem(privateKey), mode: KEY_FILE_MODE },
      { file: this.chainFile, contents: chain.map(certificateToPem).join(''), mode: CERT_FILE_MODE },
    ]);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Trust anchors

  trustAnchors(): X509Certificate[] {
    return this.readTrustFiles().flatMap(({ certs }) => certs);
  }

  /** Adds a CA certificate as trust anchor (idempotent); returns its fingerprint. */
  addTrustAnchor(cert: X509Certificate): string {
    if (!certificateFields(cert).basicConstraints?.isCa) {
      throw new PkiError(
        'ISSUER_NOT_CA',
        `certificate ${certificateLabel(cert)} is not a CA certificate (no basicConstraints CA:true) and cannot be a trust anchor`,
      );
    }
    const fingerprint = fingerprintSha256(cert);
    if (this.trustAnchors().some((anchor) => anchor.raw.equals(cert.raw))) return fingerprint;
    ensurePrivateDir(this.trustDir);
    const file = path.join(this.trustDir, `${plainHex(fingerprint)}.pem`);
    writeFilesAtomically([{ file, contents: certificateToPem(cert), mode: CERT_FILE_MODE }]);
    return fingerprint;
  }

  /**
   * Removes the trust anchor whose SHA-256 fingerprint starts with the given hex (colons and case do not matter).
   * NotFoundError if none matches, ValidationError if several do. Returns the removed anchor's fingerprint.
   */
  removeTrustAnchor(fingerprintOrPrefix: string): string {
    const prefix = plainHex(fingerprintOrPrefix.trim());
    if (!/^[0-9a-f]+$/.test(prefix)) {
      throw new ValidationError(`"${fingerprintOrPrefix}" is not a hexadecimal fingerprint`, '/fingerprint');
    }
    const matches = this.readTrustFiles().flatMap(({ file, certs }) =>
      certs.filter((cert) => plainHex(fingerprintSha256(cert)).startsWith(prefix)).map((cert) => ({ file, certs, cert })),
    );
    if (matches.length === 0) {
      throw new NotFoundError(`no trust anchor has a fingerprint starting with ${fingerprintOrPrefix}`, 'TRUST_ANCHOR_NOT_FOUND');
    }
    if (matches.length > 1) {
      const message = `"${fingerprintOrPrefix}" matches ${matches.length} trust anchors: give more of the fingerprint`;
      throw new ValidationError(message, '/fingerprint');
    }
    const { file, certs, cert } = matches[0]!;
    const remaining = certs.filter((other) => other !== cert);
    if (remaining.length) {
      writeFilesAtomically([{ file, contents: remaining.map(certificateToPem).join(''), mode: CERT_FILE_MODE }]);
    } else {
      fs.unlinkSync(file);
      fsyncPath(this.trustDir);
    }
    return fingerprintSha256(cert);
  }

  listTrustAnchors(): TrustAnchorEntry[] {
    return this.readTrustFiles().flatMap(({ file, certs }) =>
      certs.map((cert) => ({
        fingerprint: fingerprintSha256(cert),
        subject: certificateInfo(cert).subject,
        notAfter: certificateFields(cert).notAfter,
        file,
      })),
    );
  }

  /** Every *.pem in the trust directory, by file name; an unreadable file is an error, not silently skipped. */
  private readTrustFiles(): Array<{ file: string; certs: X509Certificate[] }> {
    let names: string[];
    try {
      names = fs.readdirSync(this.trustDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new PkiError('CERT_INVALID', `cannot read the trust anchor directory ${this.trustDir}: ${describeError(err)}`, err);
    }
    return names
      .filter((name) => name.endsWith('.pem'))
      .sort()
      .map((name) => path.join(this.trustDir, name))
      .map((file) => ({ file, certs: readCertificateFile(file, 'add trust anchors with "hedgerow trust add"') }));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Development CA

  /** The development CA (in devCaDir), or null if none was created. */
  loadDevCa(): CertificateAuthority | null {
    return caDirectoryExists(this.devCaDir) ? loadCaDirectory(this.devCaDir, INIT_HINT) : null;
  }

  /** Stores the development CA. Refuses (KEYS_EXIST) to replace an existing one unless `force`. */
  saveDevCa(ca: CertificateAuthority, opts: { force?: boolean } = {}): void {
    ensurePrivateDir(this.certsDir);
    saveCaDirectory(this.devCaDir, ca, opts);
  }
}

/** "AB:CD:.." or "abcd.." to "abcd..". */
function plainHex(fingerprint: string): string {
  return fingerprint.replace(/:/g, '').toLowerCase();
}
