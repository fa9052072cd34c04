import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, PkiError, ValidationError } from '../../src/errors';
import {
  CertStore,
  certificateInfo,
  certificateToPem,
  fingerprintSha256,
  generateKeyPair,
  loadCaDirectory,
  privateKeyToPem,
  saveCaDirectory,
} from '../../src/pki';
import { makeIntermediateCa, makeLeaf, makeRootCa, makeTempDir, thrown, type TestCa, type TestLeaf } from './pki-fixtures';

const temp = makeTempDir();
afterAll(() => temp.cleanup());

let counter = 0;
/** A store on a directory that does not exist yet. */
function freshStore(): CertStore {
  return new CertStore(path.join(temp.dir, `certs-${++counter}`));
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;
const leftovers = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));

let root: TestCa;
let intermediate: TestCa;
let leaf: TestLeaf;
beforeAll(() => {
  root = makeRootCa('ec');
  intermediate = makeIntermediateCa(root);
  leaf = makeLeaf(intermediate);
});

describe('connector identity', () => {
  it('uses the documented file layout', () => {
    const store = new CertStore('/srv/hedgerow/certs');
    expect(store.keyFile).toBe('/srv/hedgerow/certs/connector.key.pem');
    expect(store.chainFile).toBe('/srv/hedgerow/certs/connector.crt.pem');
    expect(store.trustDir).toBe('/srv/hedgerow/certs/trust');
    expect(store.devCaDir).toBe('/srv/hedgerow/certs/dev-ca');
  });

  it('says what to do when nothing is there yet', () => {
    const store = freshStore();
    expect(store.hasIdentity()).toBe(false);
    const err = thrown(() => store.loadIdentity());
    expect(err.code).toBe('KEY_INVALID');
    expect(err.message).toBe(`no private key at ${store.keyFile}: run "hedgerow init"`);
  });

  it('saves key 0600 and chain leaf first in a 0700 directory, atomically, and loads them back', () => {
    const store = freshStore();
    store.saveIdentity(leaf.privateKey, [leaf.certificate, intermediate.certificate]);
    expect(store.hasIdentity()).toBe(true);
    expect(mode(store.certsDir)).toBe(0o700);
    expect(mode(store.keyFile)).toBe(0o600);
    expect(mode(store.chainFile)).toBe(0o644);
    expect(fs.readFileSync(store.chainFile, 'utf8')).toBe(certificateToPem(leaf.certificate) + certificateToPem(intermediate.certificate));
    expect(fs.readFileSync(store.keyFile, 'utf8')).toBe(privateKeyToPem(leaf.privateKey));
    expect(leftovers(store.certsDir)).toEqual([]);

    const loaded = store.loadIdentity();
    expect(loaded.privateKey.export({ format: 'jwk' })).toEqual(leaf.privateKey.export({ format: 'jwk' }));
    expect(loaded.chain.map((c) => c.fingerprint256)).toEqual([leaf.certificate.fingerprint256, intermediate.certificate.fingerprint256]);
  });

  it('tightens an existing directory to 0700', () => {
    const store = freshStore();
    fs.mkdirSync(store.certsDir, { mode: 0o755 });
    fs.chmodSync(store.certsDir, 0o755);
    store.saveIdentity(leaf.privateKey, [leaf.certificate]);
    expect(mode(store.certsDir)).toBe(0o700);
  });

  it('refuses to replace a key without force (KEYS_EXIST), and replaces it with force', () => {
    const store = freshStore();
    store.saveIdentity(leaf.privateKey, [leaf.certificate]);
    const other = makeLeaf(intermediate, { commonName: 'replacement.example.com' });
    const err = thrown(() => store.saveIdentity(other.privateKey, [other.certificate]));
    expect(err).toBeInstanceOf(PkiError);
    expect(err.code).toBe('KEYS_EXIST');
    expect(store.loadIdentity().chain[0]!.fingerprint256).toBe(leaf.certificate.fingerprint256);

    store.saveIdentity(other.privateKey, [other.certificate], { force: true });
    expect(store.loadIdentity().chain[0]!.fingerprint256).toBe(other.certificate.fingerprint256);
    expect(mode(store.keyFile)).toBe(0o600);
    expect(leftovers(store.certsDir)).toEqual([]);
  });

  it('leaves the old files intact and no temporary files behind when a write fails (disk full)', () => {
    const store = freshStore();
    store.saveIdentity(leaf.privateKey, [leaf.certificate]);
    const before = [fs.readFileSync(store.keyFile, 'utf8'), fs.readFileSync(store.chainFile, 'utf8')];
    const realWrite = fs.writeFileSync;
    let writes = 0;
    const spy = jest.spyOn(fs, 'writeFileSync').mockImplementation((...args: Parameters<typeof fs.writeFileSync>) => {
      // The key is staged first; fail while staging the chain, as a full disk would.
      if (++writes === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      realWrite(...args);
    });
    try {
      const other = makeLeaf(intermediate);
      expect(thrown(() => store.saveIdentity(other.privateKey, [other.certificate], { force: true })).code).toBe('ENOSPC');
    } finally {
      spy.mockRestore();
    }
    expect([fs.readFileSync(store.keyFile, 'utf8'), fs.readFileSync(store.chainFile, 'utf8')]).toEqual(before);
    expect(leftovers(store.certsDir)).toEqual([]);
  });

  it('refuses to save a key that does not match the leaf, and writes nothing', () => {
    const store = freshStore();
    expect(thrown(() => store.saveIdentity(root.privateKey, [leaf.certificate])).code).toBe('KEY_MISMATCH');
    expect(fs.existsSync(store.keyFile)).toBe(false);
    expect(thrown(() => store.saveIdentity(leaf.privateKey, [])).code).toBe('CERT_INVALID');
  });

  it('reports a key that no longer matches the certificate on load (KEY_MISMATCH)', () => {
    const store = freshStore();
    store.saveIdentity(leaf.privateKey, [leaf.certificate]);
    fs.writeFileSync(store.keyFile, privateKeyToPem(generateKeyPair('ec').privateKey));
    const err = thrown(() => store.loadIdentity());
    expect(err.code).toBe('KEY_MISMATCH');
    expect(err.message).toContain(store.keyFile);
  });

  it('names the file and never shows key material for corrupt files', () => {
    const store = freshStore();
    store.saveIdentity(leaf.privateKey, [leaf.certificate]);
    const keyPem = fs.readFileSync(store.keyFile, 'utf8');

    fs.writeFileSync(store.keyFile, keyPem.slice(0, 120) + '\n-----END PRIVATE KEY-----\n');
    const keyErr = thrown(() => store.loadIdentity());
    expect(keyErr.code).toBe('KEY_INVALID');
    expect(keyErr.message).toMatch(new RegExp(`^${store.keyFile}: the private key PEM cannot be read`));
    expect(keyErr.message).not.toContain(keyPem.split('\n')[1]!.slice(0, 16));

    fs.writeFileSync(store.keyFile, keyPem);
    fs.writeFileSync(store.chainFile, '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n');
    const certErr = thrown(() => store.loadIdentity());
    expect(certErr.code).toBe('CERT_INVALID');
    expect(certErr.message).toMatch(new RegExp(`^${store.chainFile}: not a valid PEM certificate`));

    fs.rmSync(store.chainFile);
    expect(thrown(() => store.loadIdentity()).message).toBe(`no certificate at ${store.chainFile}: run "hedgerow init"`);
  });
});

describe('trust anchors', () => {
  it('adds (idempotently), lists, loads and removes anchors', () => {
    const store = freshStore();
    expect(store.trustAnchors()).toEqual([]);
    const fingerprint = store.addTrustAnchor(root.certificate);
    expect(fingerprint).toBe(fingerprintSha256(root.certificate));
    expect(store.addTrustAnchor(root.certificate)).toBe(fingerprint);
    const file = path.join(store.trustDir, `${fingerprint.replace(/:/g, '').toLowerCase()}.pem`);
    expect(fs.readdirSync(store.trustDir)).toEqual([path.basename(file)]);
    expect(mode(store.trustDir)).toBe(0o700);

    expect(store.listTrustAnchors()).toEqual([
      { fingerprint, subject: 'CN=Test Root CA, O=Hedgerow Tests, C=DE', notAfter: certificateInfo(root.certificate).notAfter, file },
    ]);
    expect(store.trustAnchors().map((c) => c.fingerprint256)).toEqual([root.certificate.fingerprint256]);

    // Prefix, lower case, with colons.
    expect(store.removeTrustAnchor(fingerprint.slice(0, 8).toLowerCase())).toBe(fingerprint);
    expect(store.trustAnchors()).toEqual([]);
    expect(fs.readdirSync(store.trustDir)).toEqual([]);
  });

  it('accepts the plain hex form for removal and reports unknown or ambiguous fingerprints', () => {
    const store = freshStore();
    // 17 anchors: by the pigeonhole principle two share the first hex digit, which makes that digit ambiguous.
    const fingerprints = Array.from({ length: 17 }, (_, i) => store.addTrustAnchor(makeRootCa('ec', `Root ${i}`).certificate));
    const plain = fingerprints.map((fp) => fp.replace(/:/g, ''));
    const shared = plain.find((fp, i) => plain.some((other, j) => j !== i && other[0] === fp[0]))![0]!;
    const ambiguous = thrown(() => store.removeTrustAnchor(shared));
    expect(ambiguous).toBeInstanceOf(ValidationError);
    expect(ambiguous.message).toMatch(/matches \d+ trust anchors: give more of the fingerprint/);

    const byteValues = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    const unused = byteValues.find((hex) => !plain.some((fp) => fp.toLowerCase().startsWith(hex)))!;
    const missing = thrown(() => store.removeTrustAnchor(`${unused.toUpperCase()}:`));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(thrown(() => store.removeTrustAnchor('zz:top'))).toBeInstanceOf(ValidationError);

    expect(store.removeTrustAnchor(plain[3]!)).toBe(fingerprints[3]);
    expect(store.listTrustAnchors()).toHaveLength(16);
  });

  it('refuses certificates that are not CAs (ISSUER_NOT_CA)', () => {
    const store = freshStore();
    const err = thrown(() => store.addTrustAnchor(leaf.certificate));
    expect(err.code).toBe('ISSUER_NOT_CA');
    expect(fs.existsSync(store.trustDir)).toBe(false);
  });

  it('reports a corrupt anchor file by name instead of skipping it', () => {
    const store = freshStore();
    store.addTrustAnchor(root.certificate);
    const bad = path.join(store.trustDir, 'broken.pem');
    fs.writeFileSync(bad, 'this is not a certificate');
    const err = thrown(() => store.trustAnchors());
    expect(err.code).toBe('CERT_INVALID');
    expect(err.message).toBe(`${bad}: no certificate found: expected PEM "-----BEGIN CERTIFICATE-----"`);
  });

  it('removes one anchor from a hand-made bundle file and keeps the others', () => {
    const store = freshStore();
    fs.mkdirSync(store.trustDir, { recursive: true });
    const other = makeRootCa('ec', 'Other Root');
    fs.writeFileSync(path.join(store.trustDir, 'bundle.pem'), certificateToPem(root.certificate) + certificateToPem(other.certificate));
    expect(store.trustAnchors()).toHaveLength(2);
    store.removeTrustAnchor(fingerprintSha256(root.certificate));
    expect(store.trustAnchors().map((c) => c.fingerprint256)).toEqual([other.certificate.fingerprint256]);
  });
});

describe('development CA', () => {
  it('is null until saved, then loads; key 0600 in a 0700 directory; KEYS_EXIST without force', () => {
    const store = freshStore();
    expect(store.loadDevCa()).toBeNull();
    store.saveDevCa(root);
    const devCaKey = path.join(store.devCaDir, 'ca.key.pem');
    expect(mode(store.devCaDir)).toBe(0o700);
    expect(mode(devCaKey)).toBe(0o600);
    expect(leftovers(store.devCaDir)).toEqual([]);
    const loaded = store.loadDevCa()!;
    expect(loaded.certificate.fingerprint256).toBe(root.certificate.fingerprint256);
    expect(loaded.privateKey.export({ format: 'jwk' })).toEqual(root.privateKey.export({ format: 'jwk' }));

    const other = makeRootCa('ec', 'Other Dev CA');
    expect(thrown(() => store.saveDevCa(other)).code).toBe('KEYS_EXIST');
    store.saveDevCa(other, { force: true });
    expect(store.loadDevCa()!.certificate.fingerprint256).toBe(other.certificate.fingerprint256);
  });

  it('refuses a non-CA certificate and reports a half-present dev CA', () => {
    const store = freshStore();
    expect(thrown(() => store.saveDevCa(leaf)).code).toBe('ISSUER_NOT_CA');
    store.saveDevCa(root);
    fs.rmSync(path.join(store.devCaDir, 'ca.crt.pem'));
    expect(thrown(() => store.loadDevCa()).code).toBe('CERT_INVALID');
  });
});

describe('CA directory (hedgerow ca init)', () => {
  it('saves ca.key.pem 0600 and ca.crt.pem in a 0700 directory and loads them back', () => {
    const dir = path.join(temp.dir, `ca-${++counter}`);
    saveCaDirectory(dir, root);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, 'ca.key.pem'))).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'ca.crt.pem'), 'utf8')).toBe(certificateToPem(root.certificate));
    expect(loadCaDirectory(dir).certificate.fingerprint256).toBe(root.certificate.fingerprint256);
    expect(thrown(() => saveCaDirectory(dir, makeRootCa('ec', 'Another CA'))).code).toBe('KEYS_EXIST');
  });

  it('says how to create a missing CA', () => {
    const dir = path.join(temp.dir, 'no-such-ca');
    const err = thrown(() => loadCaDirectory(dir));
    expect(err.code).toBe('KEY_INVALID');
    expect(err.message).toBe(`no private key at ${dir}/ca.key.pem: run "hedgerow ca init --dir ${dir}"`);
  });
});
