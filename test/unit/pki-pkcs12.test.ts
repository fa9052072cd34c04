import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PkiError, ValidationError } from '../../src/errors';
import { keyMatchesCertificate, readPkcs12, writePkcs12, type KeyType } from '../../src/pki';
import {
  OPENSSL,
  makeIntermediateCa,
  makeLeaf,
  makeRootCa,
  makeTempDir,
  openssl,
  thrown,
  writePem,
  type TestCa,
  type TestLeaf,
} from './pki-fixtures';

const PASSWORD = 'correct horse battery staple';
const temp = makeTempDir();
afterAll(() => temp.cleanup());

let root: TestCa;
let intermediate: TestCa;
beforeAll(() => {
  root = makeRootCa('ec');
  intermediate = makeIntermediateCa(root);
});

const fingerprints = (certs: Array<{ fingerprint256: string }>) => certs.map((c) => c.fingerprint256);
const file = (name: string) => path.join(temp.dir, name);

/** `openssl pkcs12 -export` of a leaf, its key and CA certificates, with extra options (e.g. legacy algorithms). */
function opensslExport(name: string, leaf: TestLeaf, cas: TestCa[], options: string[] = []): Buffer {
  writePem(temp.dir, `${name}.key.pem`, leaf.privateKey);
  writePem(temp.dir, `${name}.crt.pem`, leaf.certificate);
  writePem(temp.dir, `${name}.cas.pem`, ...cas.map((ca) => ca.certificate));
  openssl(
    ['pkcs12', '-export', '-inkey', `${name}.key.pem`, '-in', `${name}.crt.pem`, '-certfile', `${name}.cas.pem`, '-passout', `pass:${PASSWORD}`, '-out', `${name}.p12`, ...options],
    { cwd: temp.dir },
  );
  return fs.readFileSync(file(`${name}.p12`));
}

describe.each<KeyType>(['ec', 'rsa'])('PKCS#12 with an %s key', (keyType) => {
  let leaf: TestLeaf;
  let p12: Buffer;
  beforeAll(() => {
    leaf = makeLeaf(intermediate, { keyType });
    // Deliberately out of order: the reader must put the chain back in order.
    p12 = writePkcs12({ privateKey: leaf.privateKey, chain: [leaf.certificate, root.certificate, intermediate.certificate], password: PASSWORD, friendlyName: 'hedgerow connector' });
    fs.writeFileSync(file(`ours-${keyType}.p12`), p12);
  });

  it('round-trips: same key, chain leaf first then each issuer', () => {
    const { privateKey, chain } = readPkcs12(p12, PASSWORD);
    expect(privateKey.export({ format: 'jwk' })).toEqual(leaf.privateKey.export({ format: 'jwk' }));
    expect(keyMatchesCertificate(privateKey, chain[0]!)).toBe(true);
    expect(fingerprints(chain)).toEqual(fingerprints([leaf.certificate, intermediate.certificate, root.certificate]));
  });

  it('is accepted by openssl pkcs12 with AES-256 PBES2 and a SHA-256 MAC', () => {
    openssl(['pkcs12', '-in', file(`ours-${keyType}.p12`), '-passin', `pass:${PASSWORD}`, '-noout']);
    const info = openssl(['pkcs12', '-in', file(`ours-${keyType}.p12`), '-passin', `pass:${PASSWORD}`, '-info', '-nodes']);
    expect(info).toMatch(/MAC: sha256, Iteration 2048/);
    expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    expect(info).toContain('friendlyName: hedgerow connector');
    expect(info).toContain('BEGIN PRIVATE KEY');
    expect(info.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });

  it('reads a file made by openssl pkcs12 -export with OpenSSL 3 defaults', () => {
    const exported = opensslExport(`openssl-${keyType}`, leaf, [intermediate, root]);
    expect(openssl(['pkcs12', '-in', file(`openssl-${keyType}.p12`), '-passin', `pass:${PASSWORD}`, '-info', '-noout'])).toMatch(/PBES2, PBKDF2, AES-256-CBC/);
    const { privateKey, chain } = readPkcs12(exported, PASSWORD);
    expect(keyMatchesCertificate(privateKey, leaf.certificate)).toBe(true);
    expect(fingerprints(chain)).toEqual(fingerprints([leaf.certificate, intermediate.certificate, root.certificate]));
  });

  it('reads a legacy file (3DES key and certificates, SHA-1 MAC)', () => {
    const exported = opensslExport(`legacy-${keyType}`, leaf, [intermediate], ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']);
    const { privateKey, chain } = readPkcs12(exported, PASSWORD);
    expect(keyMatchesCertificate(privateKey, chain[0]!)).toBe(true);
    expect(fingerprints(chain)).toEqual(fingerprints([leaf.certificate, intermediate.certificate]));
  });

  it('says P12_BAD_PASSWORD for a wrong password, for our files and openssl’s', () => {
    for (const data of [p12, fs.readFileSync(file(`openssl-${keyType}.p12`))]) {
      const err = thrown(() => readPkcs12(data, 'wrong'));
      expect(err).toBeInstanceOf(PkiError);
      expect(err.code).toBe('P12_BAD_PASSWORD');
      expect(err.message).toContain('wrong PKCS#12 password');
    }
  });
});

/** OpenSSL's -legacy (RC2-40 certificates) needs the legacy provider, which some builds lack. */
const legacyProvider = spawnSync(OPENSSL, ['list', '-providers', '-provider', 'legacy']).status === 0;
(legacyProvider ? it : it.skip)('reads an openssl -legacy file (RC2-40 encrypted certificates)', () => {
  const leaf = makeLeaf(intermediate);
  const exported = opensslExport('rc2', leaf, [intermediate, root], ['-legacy']);
  expect(fingerprints(readPkcs12(exported, PASSWORD).chain)).toEqual(fingerprints([leaf.certificate, intermediate.certificate, root.certificate]));
});

describe('readPkcs12 rejects unusable files with P12_INVALID', () => {
  let leaf: TestLeaf;
  beforeAll(() => {
    leaf = makeLeaf(intermediate);
  });

  it.each([
    ['random bytes', () => Buffer.from('definitely not a PKCS#12 file')],
    ['a truncated file', () => writePkcs12({ privateKey: leaf.privateKey, chain: [leaf.certificate], password: PASSWORD }).subarray(0, 300)],
    ['a PEM file', () => Buffer.from(fs.readFileSync(writePem(temp.dir, 'x.pem', leaf.certificate)))],
  ])('%s', (_name, data) => {
    const err = thrown(() => readPkcs12(data(), PASSWORD));
    expect(err.code).toBe('P12_INVALID');
    expect(err.message).toMatch(/^not a valid PKCS#12 file: /);
  });

  it('a file with certificates but no key', () => {
    writePem(temp.dir, 'nokey.crt.pem', leaf.certificate);
    openssl(['pkcs12', '-export', '-nokeys', '-in', 'nokey.crt.pem', '-passout', `pass:${PASSWORD}`, '-out', 'nokey.p12'], { cwd: temp.dir });
    const err = thrown(() => readPkcs12(fs.readFileSync(file('nokey.p12')), PASSWORD));
    expect(err.code).toBe('P12_INVALID');
    expect(err.message).toContain('contains 0 private keys');
  });

  it('a file with a key but no certificate for it', () => {
    writePem(temp.dir, 'nocert.key.pem', leaf.privateKey);
    openssl(['pkcs12', '-export', '-nocerts', '-inkey', 'nocert.key.pem', '-passout', `pass:${PASSWORD}`, '-out', 'nocert.p12'], { cwd: temp.dir });
    const err = thrown(() => readPkcs12(fs.readFileSync(file('nocert.p12')), PASSWORD));
    expect(err.code).toBe('P12_INVALID');
    expect(err.message).toContain('no certificate matching its private key');
  });
});

describe('writePkcs12', () => {
  it('handles a non-ASCII password as OpenSSL does (UTF-8)', () => {
    const password = 'pässwörd ✓';
    const leaf = makeLeaf(intermediate);
    const p12 = writePkcs12({ privateKey: leaf.privateKey, chain: [leaf.certificate], password });
    expect(keyMatchesCertificate(readPkcs12(p12, password).privateKey, leaf.certificate)).toBe(true);
    expect(thrown(() => readPkcs12(p12, 'passwort')).code).toBe('P12_BAD_PASSWORD');
    fs.writeFileSync(file('unicode.p12'), p12);
    expect(openssl(['pkcs12', '-in', file('unicode.p12'), '-passin', `pass:${password}`, '-nodes'])).toContain('BEGIN PRIVATE KEY');
    writePem(temp.dir, 'unicode.key.pem', leaf.privateKey);
    writePem(temp.dir, 'unicode.crt.pem', leaf.certificate);
    openssl(['pkcs12', '-export', '-inkey', 'unicode.key.pem', '-in', 'unicode.crt.pem', '-passout', `pass:${password}`, '-out', 'openssl-unicode.p12'], { cwd: temp.dir });
    expect(keyMatchesCertificate(readPkcs12(fs.readFileSync(file('openssl-unicode.p12')), password).privateKey, leaf.certificate)).toBe(true);
  });

  it('refuses an empty password, an empty chain and a key that does not match the leaf', () => {
    const leaf = makeLeaf(intermediate);
    expect(thrown(() => writePkcs12({ privateKey: leaf.privateKey, chain: [leaf.certificate], password: '' }))).toBeInstanceOf(ValidationError);
    expect(thrown(() => writePkcs12({ privateKey: leaf.privateKey, chain: [], password: PASSWORD }))).toBeInstanceOf(ValidationError);
    expect(thrown(() => writePkcs12({ privateKey: root.privateKey, chain: [leaf.certificate], password: PASSWORD })).code).toBe('KEY_MISMATCH');
  });
});
