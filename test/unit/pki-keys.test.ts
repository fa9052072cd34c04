import { generateKeyPairSync } from 'node:crypto';
import { PkiError } from '../../src/errors';
import {
  generateKeyPair,
  jwsAlgorithmFor,
  keyMatchesCertificate,
  keyTypeOf,
  privateKeyToPem,
  readPrivateKeyPem,
} from '../../src/pki';
import { makeLeaf, makeRootCa, p384KeyPair, rsaKeyPair, thrown } from './pki-fixtures';

describe('generateKeyPair', () => {
  it('makes EC P-256 keys', () => {
    const { privateKey, publicKey } = generateKeyPair('ec');
    expect(privateKey.type).toBe('private');
    expect(publicKey.type).toBe('public');
    expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(keyTypeOf(privateKey)).toBe('ec');
    expect(jwsAlgorithmFor(publicKey)).toBe('ES256');
  });

  it('makes 3072-bit RSA keys', () => {
    const { privateKey, publicKey } = rsaKeyPair();
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(keyTypeOf(publicKey)).toBe('rsa');
    expect(jwsAlgorithmFor(privateKey)).toBe('PS256');
  });
});

describe('keyTypeOf', () => {
  it('accepts P-384 (CAs) but a connector key must be P-256 for ES256', () => {
    const { privateKey } = p384KeyPair();
    expect(keyTypeOf(privateKey)).toBe('ec');
    expect(thrown(() => jwsAlgorithmFor(privateKey)).code).toBe('KEY_INVALID');
  });

  it.each([
    ['ed25519', () => generateKeyPairSync('ed25519').privateKey, /unsupported key type ed25519/],
    ['secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, /unsupported EC curve secp256k1/],
    ['RSA 1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, /1024 bits is too short/],
  ])('rejects %s with KEY_INVALID', (_name, makeKey, message) => {
    const err = thrown(() => keyTypeOf(makeKey()));
    expect(err).toBeInstanceOf(PkiError);
    expect(err.code).toBe('KEY_INVALID');
    expect(err.message).toMatch(message);
  });
});

describe('private key PEM', () => {
  const ec = generateKeyPair('ec').privateKey;

  it('writes PKCS#8 and reads it back', () => {
    const pem = privateKeyToPem(ec);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readPrivateKeyPem(pem).export({ format: 'jwk' })).toEqual(ec.export({ format: 'jwk' }));
  });

  it('reads SEC1 and PKCS#1 keys', () => {
    const sec1 = ec.export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    expect(keyTypeOf(readPrivateKeyPem(sec1))).toBe('ec');
    const pkcs1 = rsaKeyPair().privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    expect(keyTypeOf(readPrivateKeyPem(pkcs1))).toBe('rsa');
  });

  it.each([
    ['garbage', 'not a key at all', /no "BEGIN PRIVATE KEY" PEM block/],
    ['a public key', generateKeyPair('ec').publicKey.export({ type: 'spki', format: 'pem' }).toString(), /no "BEGIN PRIVATE KEY"/],
    ['a damaged key', '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n', /cannot be read/],
    [
      'an encrypted key',
      ec.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString(),
      /the private key is encrypted/,
    ],
    ['an unsupported key', generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /ed25519/],
  ])('rejects %s with KEY_INVALID and no key material in the message', (_name, pem, message) => {
    const err = thrown(() => readPrivateKeyPem(pem));
    expect(err.code).toBe('KEY_INVALID');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('MIG');
  });

  it('refuses to export a public key as a private key', () => {
    expect(thrown(() => privateKeyToPem(generateKeyPair('ec').publicKey)).code).toBe('KEY_INVALID');
  });
});

describe('keyMatchesCertificate', () => {
  it('tells the certificate key from any other, across key types', () => {
    const ca = makeRootCa('ec');
    const leaf = makeLeaf(ca);
    expect(keyMatchesCertificate(leaf.privateKey, leaf.certificate)).toBe(true);
    expect(keyMatchesCertificate(ca.privateKey, leaf.certificate)).toBe(false);
    expect(keyMatchesCertificate(rsaKeyPair().privateKey, leaf.certificate)).toBe(false);
    const rsaLeaf = makeLeaf(ca, { keyType: 'rsa' });
    expect(keyMatchesCertificate(rsaLeaf.privateKey, rsaLeaf.certificate)).toBe(true);
    expect(keyMatchesCertificate(leaf.privateKey, rsaLeaf.certificate)).toBe(false);
  });
});
