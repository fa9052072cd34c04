/**
 * PKCS#12 (RFC 7292) import and export for EC and RSA keys. forge's own PKCS#12 layer only understands RSA and
 * re-encodes certificates, so the container is walked here with forge.asn1; forge supplies the password-based
 * ciphers for reading (PBES2/AES as written by OpenSSL 3, and the legacy 3DES / RC2 schemes) and the PKCS#12 MAC
 * key derivation, node:crypto the rest.
 *
 * Written files follow OpenSSL 3's defaults where it matters: the key is a PKCS#8 shrouded key bag encrypted with
 * PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC, encrypted by OpenSSL through node), and the whole is authenticated by a
 * SHA-256 HMAC. Certificates are public and stored unencrypted.
 */
import { X509Certificate, createHash, createHmac, createPrivateKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';

/** The full forge (PKCS#12 KDF, PBE ciphers), loaded on first use: only certificate import needs it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const forgeLib = (): typeof Forge => require('node-forge') as typeof Forge;
import { PkiError, ValidationError } from '../errors';
import {
  MalformedDerError,
  bmpString,
  bytesOf,
  childrenOf,
  explicit,
  integer,
  isContext,
  nullValue,
  octetString,
  octetStringBytes,
  oid,
  oidOf,
  parseDer,
  sequence,
  sequenceChildren,
  set,
  smallIntegerOf,
  toDer,
  type Asn1,
} from './asn1';
import { verifyKeyPair } from './chain';
import { keyMatchesCertificate, keyTypeOf } from './keys';

const OIDS = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** MAC digests (RFC 7292 appendix B uses the same hash for key derivation and HMAC). */
const MAC_DIGESTS: Readonly<Record<string, { nodeName: string; forgeDigest: () => Forge.md.MessageDigest }>> = {
  '1.3.14.3.2.26': { nodeName: 'sha1', forgeDigest: () => forgeLib().md.sha1.create() },
  [OIDS.sha256]: { nodeName: 'sha256', forgeDigest: () => forgeLib().md.sha256.create() },
  '2.16.840.1.101.3.4.2.2': { nodeName: 'sha384', forgeDigest: () => forgeLib().md.sha384.create() },
  '2.16.840.1.101.3.4.2.3': { nodeName: 'sha512', forgeDigest: () => forgeLib().md.sha512.create() },
};

const MAC_ITERATIONS = 2048; // OpenSSL's default (PKCS12_DEFAULT_ITER), as is the key's PBKDF2 count
const MAC_SALT_BYTES = 16;
/** The MAC key derivation runs in JavaScript: refuse counts that would stall the process (real files use <= 100k). */
const MAX_MAC_ITERATIONS = 1_000_000;

/** Decryption failed: with a MAC that already verified this means corruption, without one a wrong password. */
class DecryptionError extends Error {}

// ---------------------------------------------------------------------------------------------------------------
// Reading

export interface Pkcs12Contents {
  privateKey: KeyObject;
  /** Leaf first (the certificate matching the key), then its issuers in order, then any other certificates. */
  chain: X509Certificate[];
}

/**
 * Reads a password-protected PKCS#12 file holding one private key and its certificate chain.
 * PkiError P12_BAD_PASSWORD for a wrong password, P12_INVALID for anything else that makes the file unusable.
 */
export function readPkcs12(data: Buffer, password: string): Pkcs12Contents {
  let macVerified = false;
  try {
    const [version, authSafe, macData] = sequenceChildren(parseDer(data, { strict: false }), 'PFX');
    if (smallIntegerOf(version, 'version') !== 3) throw new MalformedDerError('unsupported PFX version');
    const authSafeBytes = contentInfoData(authSafe, 'authSafe');
    if (macData) {
      if (!macMatches(macData, authSafeBytes, password)) {
        throw new PkiError('P12_BAD_PASSWORD', 'wrong PKCS#12 password (the integrity check failed)');
      }
      macVerified = true;
    }
    return assemble(readBags(authSafeBytes, password));
  } catch (err) {
    if (err instanceof PkiError) throw err;
    if (err instanceof DecryptionError && !macVerified) {
      throw new PkiError('P12_BAD_PASSWORD', 'wrong PKCS#12 password (decryption failed)', err);
    }
    throw new PkiError('P12_INVALID', `not a valid PKCS#12 file: ${(err as Error).message}`, err);
  }
}

/** The bytes of a ContentInfo of type data (RFC 2315: [0] EXPLICIT OCTET STRING). */
function contentInfoData(contentInfo: Asn1 | undefined, what: string): Buffer {
  const [type, content] = sequenceChildren(contentInfo, what);
  const contentType = oidOf(type, `${what} content type`);
  if (contentType !== OIDS.data) {
    throw new MalformedDerError(`${what}: unsupported content type ${contentType} (public-key integrity mode?)`);
  }
  return octetStringBytes(childrenOf(content, `${what} content`)[0], `${what} content`);
}

/** MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 } */
function macMatches(macData: Asn1, authSafeBytes: Buffer, password: string): boolean {
  const [digestInfo, saltNode, iterationsNode] = sequenceChildren(macData, 'MacData');
  const [algorithm, digestNode] = sequenceChildren(digestInfo, 'DigestInfo');
  const digestOid = oidOf(sequenceChildren(algorithm, 'digestAlgorithm')[0], 'digest algorithm');
  const digest = MAC_DIGESTS[digestOid];
  if (!digest) throw new MalformedDerError(`unsupported MAC algorithm ${digestOid}`);
  const expected = octetStringBytes(digestNode, 'MAC');
  const salt = octetStringBytes(saltNode, 'MAC salt');
  const iterations = iterationsNode ? smallIntegerOf(iterationsNode, 'MAC iterations') : 1;
  if (iterations < 1 || iterations > MAX_MAC_ITERATIONS) {
    throw new MalformedDerError(`MAC iteration count ${iterations} is outside 1..${MAX_MAC_ITERATIONS}`);
  }
  const matches = (pass: string | null): boolean => {
    const actual = pkcs12Mac(digest, pass, salt, iterations, authSafeBytes);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };
  // OpenSSL also accepts an absent password where an empty one was given (and writes either).
  return matches(password) || (password === '' && matches(null));
}

type MacDigest = (typeof MAC_DIGESTS)[string];

function pkcs12Mac(digest: MacDigest, password: string | null, salt: Buffer, iterations: number, data: Buffer): Buffer {
  const md = digest.forgeDigest();
  // The PKCS#12 KDF (RFC 7292 B.2) is not in node:crypto. forge's takes the password as UTF-16 code units, which is
  // what OpenSSL derives from a UTF-8 password. ID 3 = MAC key material.
  const saltBuffer = forgeLib().util.createBuffer(salt.toString('binary'));
  const key = forgeLib().pkcs12.generateKey(password, saltBuffer, 3, iterations, md.digestLength, md);
  return createHmac(digest.nodeName, Buffer.from(key.getBytes(), 'binary')).update(data).digest();
}

type Bag = { kind: 'key'; key: KeyObject } | { kind: 'cert'; cert: X509Certificate };

/** AuthenticatedSafe ::= SEQUENCE OF ContentInfo, each plain (data) or password-encrypted (encryptedData). */
function readBags(authSafeBytes: Buffer, password: string): Bag[] {
  const bags: Bag[] = [];
  for (const contentInfo of sequenceChildren(parseDer(authSafeBytes, { strict: false }), 'AuthenticatedSafe')) {
    const [type, content] = sequenceChildren(contentInfo, 'ContentInfo');
    const contentType = oidOf(type, 'ContentInfo type');
    if (contentType === OIDS.data) {
      bags.push(...readSafeContents(parseDer(contentInfoData(contentInfo, 'ContentInfo'), { strict: false }), password));
    } else if (contentType === OIDS.encryptedData) {
      const decrypted = decryptEncryptedData(childrenOf(content, 'EncryptedData')[0], password);
      bags.push(...readSafeContents(asDecrypted(() => parseDer(decrypted, { strict: false })), password));
    } else {
      throw new MalformedDerError(`unsupported ContentInfo type ${contentType}`);
    }
  }
  return bags;
}

/** EncryptedData ::= SEQUENCE { version, EncryptedContentInfo { contentType, algorithm, [0] IMPLICIT OCTET STRING } } */
function decryptEncryptedData(encryptedData: Asn1 | undefined, password: string): Buffer {
  const [, encryptedContentInfo] = sequenceChildren(encryptedData, 'EncryptedData');
  const [, algorithm, encryptedContent] = sequenceChildren(encryptedContentInfo, 'EncryptedContentInfo');
  if (!isContext(encryptedContent, 0)) throw new MalformedDerError('EncryptedData has no encrypted content');
  return decrypt(algorithm!, bytesOf(encryptedContent, 'encryptedContent'), password);
}

/** Password-based decryption with forge's PBES2 / PKCS#12 PBE implementations. */
function decrypt(algorithm: Asn1, ciphertext: Buffer, password: string): Buffer {
  const [algorithmOid, params] = sequenceChildren(algorithm, 'encryption algorithm');
  const schemeOid = oidOf(algorithmOid, 'encryption algorithm');
  // PBES2 takes the password as bytes (UTF-8, like OpenSSL); the PKCS#12 schemes as a string they encode themselves.
  const pass = schemeOid === OIDS.pbes2 ? forgeLib().util.encodeUtf8(password) : password;
  let cipher: Forge.cipher.BlockCipher;
  try {
    cipher = forgePbe().getCipher(schemeOid, params, pass);
  } catch (err) {
    throw new MalformedDerError(`unsupported or malformed encryption ${schemeOid}: ${(err as Error).message}`);
  }
  cipher.update(forgeLib().util.createBuffer(ciphertext.toString('binary')));
  if (!cipher.finish()) throw new DecryptionError('decryption failed');
  return Buffer.from(cipher.output.getBytes(), 'binary');
}

/** Not in @types/node-forge. */
const forgePbe = () => (forgeLib().pki as unknown as {
  pbe: { getCipher(oid: string, params: Asn1 | undefined, password: string): Forge.cipher.BlockCipher };
}).pbe;

/**
 * Reading what was just decrypted: with a wrong password, garbage passes the padding check about one time in 256
 * and then fails here, which must also count as a failed decryption.
 */
function asDecrypted<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new DecryptionError((err as Error).message);
  }
}

/** SafeContents ::= SEQUENCE OF SafeBag { bagId, [0] EXPLICIT bagValue, bagAttributes SET OPTIONAL } */
function readSafeContents(safeContents: Asn1, password: string): Bag[] {
  const bags: Bag[] = [];
  for (const bagNode of sequenceChildren(safeContents, 'SafeContents')) {
    const [bagId, wrapper] = sequenceChildren(bagNode, 'SafeBag');
    const value = childrenOf(wrapper, 'bagValue')[0];
    switch (oidOf(bagId, 'bagId')) {
      case OIDS.keyBag:
        bags.push({ kind: 'key', key: privateKeyFromPkcs8(toDer(value!)) });
        break;
      case OIDS.pkcs8ShroudedKeyBag: {
        const [algorithm, encrypted] = sequenceChildren(value, 'EncryptedPrivateKeyInfo');
        const pkcs8 = decrypt(algorithm!, octetStringBytes(encrypted, 'encryptedData'), password);
        bags.push({ kind: 'key', key: asDecrypted(() => privateKeyFromPkcs8(pkcs8)) });
        break;
      }
      case OIDS.certBag: {
        const [certId, certValue] = sequenceChildren(value, 'CertBag');
        if (oidOf(certId, 'certId') !== OIDS.x509Certificate) continue; // SDSI certificates: not for us
        bags.push({ kind: 'cert', cert: new X509Certificate(octetStringBytes(childrenOf(certValue, 'certValue')[0], 'certificate')) });
        break;
      }
      default:
        // CRL, secret and nested SafeContents bags carry nothing a connector identity needs.
        break;
    }
  }
  return bags;
}

function privateKeyFromPkcs8(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new MalformedDerError(`the private key cannot be read (${(err as Error).message})`);
  }
}

function assemble(bags: Bag[]): Pkcs12Contents {
  const keys = bags.flatMap((bag) => (bag.kind === 'key' ? [bag.key] : []));
  const certs = bags.flatMap((bag) => (bag.kind === 'cert' ? [bag.cert] : []));
  if (keys.length !== 1) {
    throw new PkiError('P12_INVALID', `the PKCS#12 file contains ${keys.length} private keys; expected exactly one`);
  }
  const privateKey = keys[0]!;
  keyTypeOf(privateKey);
  const leaf = certs.find((cert) => keyMatchesCertificate(privateKey, cert));
  if (!leaf) throw new PkiError('P12_INVALID', 'the PKCS#12 file contains no certificate matching its private key');
  return { privateKey, chain: orderChain(leaf, certs) };
}

/** Leaf, then the issuer of each certificate while one is present, then the rest in file order. */
function orderChain(leaf: X509Certificate, certs: X509Certificate[]): X509Certificate[] {
  const chain = [leaf];
  let rest = certs.filter((cert) => cert !== leaf);
  for (;;) {
    const current = chain[chain.length - 1]!;
    const issuer = rest.find((cert) => current.checkIssued(cert) && !cert.raw.equals(current.raw));
    if (!issuer) break;
    chain.push(issuer);
    rest = rest.filter((cert) => cert !== issuer);
  }
  return [...chain, ...rest];
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface WritePkcs12Options {
  privateKey: KeyObject;
  /** Leaf (matching the key) first. */
  chain: X509Certificate[];
  password: string;
  /** Shown by tools that import the file (keychains, browsers). */
  friendlyName?: string;
}

export function writePkcs12({ privateKey, chain, password, friendlyName }: WritePkcs12Options): Buffer {
  const leaf = chain[0];
  if (!leaf) throw new ValidationError('a PKCS#12 file needs at least the certificate of the key', '/chain');
  if (typeof password !== 'string' || password === '') throw new ValidationError('a PKCS#12 password is required', '/password');
  keyTypeOf(privateKey);
  verifyKeyPair(privateKey, leaf);

  // localKeyId pairs the key with its certificate; OpenSSL uses the SHA-1 of the certificate too.
  const attributes = [bagAttribute(OIDS.localKeyId, octetString(createHash('sha1').update(leaf.raw).digest()))];
  if (friendlyName !== undefined) attributes.push(bagAttribute(OIDS.friendlyName, bmpString(friendlyName)));
  const pairAttributes = set(attributes);

  const certBags = chain.map((cert, i) => {
    const certBag = sequence([oid(OIDS.x509Certificate), explicit(0, octetString(cert.raw))]);
    return safeBag(OIDS.certBag, certBag, i === 0 ? pairAttributes : undefined);
  });
  const encryptedKey = privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: password });
  const keyBag = safeBag(OIDS.pkcs8ShroudedKeyBag, parseDer(encryptedKey), pairAttributes);

  const authSafe = toDer(sequence([dataContentInfo(toDer(sequence(certBags))), dataContentInfo(toDer(sequence([keyBag])))]));
  const salt = randomBytes(MAC_SALT_BYTES);
  const mac = pkcs12Mac(MAC_DIGESTS[OIDS.sha256]!, password, salt, MAC_ITERATIONS, authSafe);
  const macData = sequence([
    sequence([sequence([oid(OIDS.sha256), nullValue()]), octetString(mac)]),
    octetString(salt),
    integer(MAC_ITERATIONS),
  ]);
  return toDer(sequence([integer(3), dataContentInfo(authSafe), macData]));
}

function dataContentInfo(content: Buffer): Asn1 {
  return sequence([oid(OIDS.data), explicit(0, octetString(content))]);
}

function safeBag(bagId: string, value: Asn1, attributes: Asn1 | undefined): Asn1 {
  return sequence([oid(bagId), explicit(0, value), ...(attributes ? [attributes] : [])]);
}

function bagAttribute(attributeOid: string, value: Asn1): Asn1 {
  return sequence([oid(attributeOid), set([value])]);
}
