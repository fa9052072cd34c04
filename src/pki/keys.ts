/**
 * Key pairs. Supported keys:
 * - EC on P-256 (what `generateKeyPair('ec')` makes and the only curve a connector key may use, because its tokens
 *   are signed ES256), and on P-384 / P-521 so that certificates of CAs using those curves can be read and verified;
 * - RSA (rsaEncryption) of at least 2048 bits (generated: 3072).
 * Everything else (Ed25519, secp256k1, RSA-PSS-only keys, short RSA keys) is rejected with PkiError KEY_INVALID, so
 * an unusable key fails when it is imported rather than when it is first used.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';
import { PkiError } from '../errors';

export type KeyType = 'ec' | 'rsa';
export type HashName = 'sha256' | 'sha384' | 'sha512';

const RSA_GENERATED_BITS = 3072;
const RSA_MINIMUM_BITS = 2048;
/** Supported curves (node's names) and the hash each signs with, matching its security level (RFC 5480 4). */
const CURVE_HASHES: Readonly<Record<string, HashName>> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

export function generateKeyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : generateKeyPairSync('rsa', { modulusLength: RSA_GENERATED_BITS });
}

/** 'ec' or 'rsa' for a supported private or public key; PkiError KEY_INVALID otherwise (see the module comment). */
export function keyTypeOf(key: KeyObject): KeyType {
  if (key.type !== 'secret') {
    if (key.asymmetricKeyType === 'ec') {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown';
      if (curve in CURVE_HASHES) return 'ec';
      throw new PkiError('KEY_INVALID', `unsupported EC curve ${curve}: use P-256 (or P-384/P-521 for CAs)`);
    }
    if (key.asymmetricKeyType === 'rsa') {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits >= RSA_MINIMUM_BITS) return 'rsa';
      throw new PkiError('KEY_INVALID', `RSA key of ${bits} bits is too short: at least ${RSA_MINIMUM_BITS} bits are required`);
    }
  }
  const kind = key.type === 'secret' ? 'secret' : (key.asymmetricKeyType ?? 'unknown');
  throw new PkiError('KEY_INVALID', `unsupported key type ${kind}: use EC P-256 or RSA`);
}

/** The hash this key signs certificates and CSRs with: SHA-256 for P-256 and RSA, SHA-384/512 for P-384/P-521. */
export function signatureHashFor(privateKey: KeyObject): HashName {
  return keyTypeOf(privateKey) === 'rsa' ? 'sha256' : CURVE_HASHES[privateKey.asymmetricKeyDetails!.namedCurve!]!;
}

/** JWS algorithm for tokens signed with the connector key. RSA uses PSS (PS256), not PKCS#1 v1.5. */
export function jwsAlgorithmFor(key: KeyObject): 'ES256' | 'PS256' {
  if (keyTypeOf(key) === 'rsa') return 'PS256';
  if (key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new PkiError('KEY_INVALID', `a connector key must be EC P-256 or RSA, not EC ${key.asymmetricKeyDetails?.namedCurve}`);
}

/** The public half of a key; a public key is returned as is. */
export function publicKeyOf(key: KeyObject): KeyObject {
  if (key.type === 'public') return key;
  if (key.type === 'private') return createPublicKey(key);
  throw new PkiError('KEY_INVALID', 'expected an asymmetric key, got a secret key');
}

/** SubjectPublicKeyInfo DER, as it goes into certificates and CSRs. */
export function spkiDer(key: KeyObject): Buffer {
  return publicKeyOf(key).export({ type: 'spki', format: 'der' });
}

/** True if the private key belongs to the certificate's public key (compared by OpenSSL, not by encoding). */
export function keyMatchesCertificate(privateKey: KeyObject, cert: X509Certificate): boolean {
  if (privateKey.type !== 'private') throw new PkiError('KEY_INVALID', `expected a private key, got a ${privateKey.type} key`);
  return cert.checkPrivateKey(privateKey);
}

/** Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
export function privateKeyToPem(key: KeyObject): string {
  if (key.type !== 'private') throw new PkiError('KEY_INVALID', `expected a private key, got a ${key.type} key`);
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Reads an unencrypted private key: PKCS#8, SEC1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") PEM. */
export function readPrivateKeyPem(pem: string): KeyObject {
  if (!/-----BEGIN (?:|EC |RSA |ENCRYPTED )PRIVATE KEY-----/.test(pem)) {
    throw new PkiError('KEY_INVALID', 'not a private key: no "BEGIN PRIVATE KEY" PEM block found');
  }
  if (pem.includes('BEGIN ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    throw new PkiError('KEY_INVALID', 'the private key is encrypted: store it unencrypted (the file itself is mode 0600)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    // node's message names the decoder that failed, never the key material.
    throw new PkiError('KEY_INVALID', `the private key PEM cannot be read (${(err as Error).message})`, err);
  }
  keyTypeOf(key);
  return key;
}
