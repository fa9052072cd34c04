/**
 * Shared helpers for the PKI unit tests: temporary directories, an openssl runner, and CA / certificate factories.
 * Not a test file itself (jest only runs *.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  certificateToPem,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
  type KeyType,
} from '../../src/pki';

export const OPENSSL = '/usr/bin/openssl';

/** A fresh temporary directory; call the returned cleanup in afterAll. */
export function makeTempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-pki-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs openssl; returns stdout followed by stderr (it prints "OK" lines to either). Throws with its output on failure. */
export function openssl(args: string[], opts: { cwd?: string; input?: string } = {}): string {
  const result = spawnSync(OPENSSL, args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8' });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${result.status}): ${output}`);
  return output;
}

export function writePem(dir: string, name: string, ...items: Array<X509Certificate | KeyObject | string>): string {
  const file = path.join(dir, name);
  const text = items
    .map((item) => (typeof item === 'string' ? item : item instanceof X509Certificate ? certificateToPem(item) : privateKeyToPem(item)))
    .join('');
  fs.writeFileSync(file, text);
  return file;
}

export interface TestCa {
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export function makeRootCa(keyType: KeyType = 'ec', commonName = 'Test Root CA', pathLength?: number): TestCa {
  return createCertificateAuthority({
    subject: { commonName, organization: 'Hedgerow Tests', country: 'DE' },
    keyType,
    validityDays: 3650,
    ...(pathLength !== undefined ? { pathLength } : {}),
  });
}

export function makeIntermediateCa(issuer: TestCa, commonName = 'Test Intermediate CA', keyType: KeyType = 'ec'): TestCa {
  const { privateKey, publicKey } = generateKeyPair(keyType);
  const certificate = issueCertificate({
    subject: { commonName, organization: 'Hedgerow Tests' },
    subjectPublicKey: publicKey,
    issuer,
    profile: 'ca',
    validityDays: 1825,
  });
  return { certificate, privateKey };
}

export interface TestLeaf {
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export function makeLeaf(
  issuer: TestCa,
  opts: { keyType?: KeyType; commonName?: string; notBefore?: Date; validityDays?: number; hostnames?: string[] } = {},
): TestLeaf {
  const { privateKey, publicKey } = opts.keyType === 'rsa' ? rsaKeyPair() : generateKeyPair('ec');
  const certificate = issueCertificate({
    subject: { commonName: opts.commonName ?? 'connector.example.com', organization: 'Example Participant' },
    subjectPublicKey: publicKey,
    issuer,
    profile: 'connector',
    validityDays: opts.validityDays ?? 365,
    participantId: 'did:web:connector.example.com',
    hostnames: opts.hostnames ?? ['connector.example.com'],
    ...(opts.notBefore ? { notBefore: opts.notBefore } : {}),
  });
  return { certificate, privateKey };
}

/** RSA generation is slow: tests share one 3072-bit key pair (generated on first use). */
let sharedRsa: { privateKey: KeyObject; publicKey: KeyObject } | undefined;
export function rsaKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  sharedRsa ??= generateKeyPair('rsa');
  return sharedRsa;
}

export function p384KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
}

/** Signs a CSR with openssl using arbitrary extensions (to build certificates hedgerow itself refuses to issue). */
export function opensslIssue(
  dir: string,
  name: string,
  issuer: TestCa,
  opts: { subject: string; extensions: string; keyType?: 'ec' | 'rsa'; days?: number },
): TestLeaf {
  const { privateKey } = generateKeyPair(opts.keyType ?? 'ec');
  const keyFile = writePem(dir, `${name}.key.pem`, privateKey);
  const caCert = writePem(dir, `${name}.issuer.pem`, issuer.certificate);
  const caKey = writePem(dir, `${name}.issuer.key.pem`, issuer.privateKey);
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, `[ext]\n${opts.extensions}\n`);
  openssl(['req', '-new', '-key', keyFile, '-subj', opts.subject, '-out', `${name}.csr`], { cwd: dir });
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', String(opts.days ?? 30),
      '-extfile', extFile, '-extensions', 'ext', '-out', `${name}.crt.pem`],
    { cwd: dir },
  );
  return { certificate: new X509Certificate(fs.readFileSync(path.join(dir, `${name}.crt.pem`))), privateKey };
}

/** Runs fn and returns the error it throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}
