import { X509Certificate } from 'node:crypto';
import { PkiError } from '../../src/errors';
import { generateKeyPair, issueCertificate, validateChain, verifyKeyPair } from '../../src/pki';
import {
  makeIntermediateCa,
  makeLeaf,
  makeRootCa,
  makeTempDir,
  openssl,
  opensslIssue,
  thrown,
  writePem,
  type TestCa,
  type TestLeaf,
} from './pki-fixtures';

const DAY = 86_400_000;
const temp = makeTempDir();
afterAll(() => temp.cleanup());

let root: TestCa;
let intermediate: TestCa;
let leaf: TestLeaf;
beforeAll(() => {
  root = makeRootCa('ec');
  intermediate = makeIntermediateCa(root);
  leaf = makeLeaf(intermediate);
});

/** The PkiError code (and message) validateChain throws. */
function rejection(chain: X509Certificate[], anchors: X509Certificate[], at?: Date): { code: string; message: string } {
  const err = thrown(() => validateChain(chain, { anchors, ...(at ? { at } : {}) }));
  expect(err).toBeInstanceOf(PkiError);
  return { code: err.code!, message: err.message };
}

describe('validateChain accepts', () => {
  it('leaf + intermediate up to the root anchor, returning the whole path', () => {
    const { anchor, path } = validateChain([leaf.certificate, intermediate.certificate], { anchors: [root.certificate] });
    expect(anchor).toBe(root.certificate);
    expect(path.map((c) => c.fingerprint256)).toEqual(
      [leaf.certificate, intermediate.certificate, root.certificate].map((c) => c.fingerprint256),
    );
  });

  it('a chain that includes the anchor, in any order, and an anchor equal to a chain certificate', () => {
    const result = validateChain([leaf.certificate, root.certificate, intermediate.certificate], { anchors: [root.certificate] });
    expect(result.path).toHaveLength(3);
    const sameRootParsedAgain = new X509Certificate(root.certificate.raw);
    expect(validateChain([leaf.certificate, intermediate.certificate], { anchors: [sameRootParsedAgain] }).anchor).toBe(sameRootParsedAgain);
  });

  it('an intermediate supplied separately, and an intermediate trusted directly', () => {
    expect(validateChain([leaf.certificate], { anchors: [root.certificate], extraIntermediates: [intermediate.certificate] }).path).toHaveLength(3);
    const direct = validateChain([leaf.certificate], { anchors: [intermediate.certificate] });
    expect(direct.anchor).toBe(intermediate.certificate);
    expect(direct.path).toHaveLength(2);
  });

  it('mixed key types (RSA root, EC intermediate, RSA leaf)', () => {
    const rsaRoot = makeRootCa('rsa', 'RSA Root');
    const ecIntermediate = makeIntermediateCa(rsaRoot, 'EC Intermediate');
    const rsaLeaf = makeLeaf(ecIntermediate, { keyType: 'rsa' });
    expect(validateChain([rsaLeaf.certificate, ecIntermediate.certificate], { anchors: [root.certificate, rsaRoot.certificate] }).anchor).toBe(
      rsaRoot.certificate,
    );
  });

  it('a certificate validated at a given time', () => {
    expect(validateChain([leaf.certificate, intermediate.certificate], { anchors: [root.certificate], at: new Date(Date.now() + 300 * DAY) }).path).toHaveLength(3);
  });
});

describe('validateChain rejects, each with its own code', () => {
  it('an expired leaf: CERT_EXPIRED', () => {
    const expired = makeLeaf(intermediate, { commonName: 'expired.example.com', notBefore: new Date(Date.now() - 10 * DAY), validityDays: 1 });
    const { code, message } = rejection([expired.certificate, intermediate.certificate], [root.certificate]);
    expect(code).toBe('CERT_EXPIRED');
    expect(message).toMatch(/^certificate "expired\.example\.com" expired on \d{4}-/);
  });

  it('a chain checked at a time after it expires: CERT_EXPIRED', () => {
    expect(rejection([leaf.certificate, intermediate.certificate], [root.certificate], new Date(Date.now() + 400 * DAY)).code).toBe('CERT_EXPIRED');
  });

  it('a leaf that is not valid yet: CERT_NOT_YET_VALID', () => {
    const future = makeLeaf(intermediate, { commonName: 'future.example.com', notBefore: new Date(Date.now() + DAY) });
    const { code, message } = rejection([future.certificate, intermediate.certificate], [root.certificate]);
    expect(code).toBe('CERT_NOT_YET_VALID');
    expect(message).toContain('"future.example.com" is not valid before');
  });

  it('a leaf signed by a different CA: CERT_UNTRUSTED', () => {
    const otherRoot = makeRootCa('ec', 'Other Root CA');
    const stranger = makeLeaf(otherRoot, { commonName: 'stranger.example.com' });
    const { code, message } = rejection([stranger.certificate], [root.certificate]);
    expect(code).toBe('CERT_UNTRUSTED');
    expect(message).toBe(
      'certificate "stranger.example.com" is not issued by a trusted CA (its issuer "CN=Other Root CA, O=Hedgerow Tests, C=DE" is neither a trust anchor nor in the chain)',
    );
  });

  it('a leaf signed by a different CA with the same name (another node’s dev CA): CERT_UNTRUSTED', () => {
    const twin = makeRootCa('ec'); // same subject as root, different key
    const stranger = makeLeaf(twin, { commonName: 'twin.example.com' });
    expect(rejection([stranger.certificate], [root.certificate]).code).toBe('CERT_UNTRUSTED');
    // ...even when the impostor root is sent along in the chain.
    expect(rejection([stranger.certificate, twin.certificate], [root.certificate]).message).toContain('"Test Root CA" is not issued by a trusted CA (it is self-signed');
  });

  it('no anchors at all: CERT_UNTRUSTED', () => {
    expect(rejection([leaf.certificate, intermediate.certificate], []).message).toContain('no trust anchors are configured');
  });

  it('a tampered signature: CERT_BAD_SIGNATURE', () => {
    const der = Buffer.from(leaf.certificate.raw);
    der[der.length - 5]! ^= 0x01; // inside the ECDSA signature's s value
    const tampered = new X509Certificate(der);
    const { code, message } = rejection([tampered, intermediate.certificate], [root.certificate]);
    expect(code).toBe('CERT_BAD_SIGNATURE');
    expect(message).toContain('does not verify with the key of its issuer "Test Intermediate CA"');
  });

  it('a chain through a certificate that is not a CA: ISSUER_NOT_CA', () => {
    const notCa = opensslIssue(temp.dir, 'not-ca', leaf, {
      subject: '/CN=signed-by-a-leaf',
      extensions: 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature',
    });
    const { code, message } = rejection([notCa.certificate, leaf.certificate, intermediate.certificate], [root.certificate]);
    expect(code).toBe('ISSUER_NOT_CA');
    expect(message).toContain('"connector.example.com" is not a CA');
  });

  it('an intermediate whose keyUsage lacks keyCertSign: ISSUER_NO_KEY_CERT_SIGN', () => {
    const weak = opensslIssue(temp.dir, 'weak-ca', root, {
      subject: '/CN=Intermediate without keyCertSign',
      extensions: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid',
    });
    const below = opensslIssue(temp.dir, 'below-weak', weak, { subject: '/CN=below-weak', extensions: 'basicConstraints=CA:FALSE' });
    const { code, message } = rejection([below.certificate, weak.certificate], [root.certificate]);
    expect(code).toBe('ISSUER_NO_KEY_CERT_SIGN');
    expect(message).toContain('"Intermediate without keyCertSign" may not sign certificates');
  });

  it('more intermediates than the root’s pathLen allows: PATH_LENGTH_EXCEEDED (and issuing refuses too)', () => {
    const strictRoot = makeRootCa('ec', 'Root pathLen 0', 0);
    const { publicKey } = generateKeyPair('ec');
    expect(
      thrown(() => issueCertificate({ subject: { commonName: 'x' }, subjectPublicKey: publicKey, issuer: strictRoot, profile: 'ca', validityDays: 1 })).code,
    ).toBe('PATH_LENGTH_EXCEEDED');
    const sub = opensslIssue(temp.dir, 'sub-ca', strictRoot, {
      subject: '/CN=Sub CA',
      extensions: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid',
    });
    const deepLeaf = makeLeaf(sub, { commonName: 'deep.example.com' });
    const { code, message } = rejection([deepLeaf.certificate, sub.certificate], [strictRoot.certificate]);
    expect(code).toBe('PATH_LENGTH_EXCEEDED');
    expect(message).toContain('"Root pathLen 0" allows 0 intermediate CA certificate(s) below it');
    // openssl agrees.
    const args = ['verify', '-CAfile', writePem(temp.dir, 'strict-root.pem', strictRoot.certificate), '-untrusted', writePem(temp.dir, 'sub.pem', sub.certificate)];
    expect(() => openssl([...args, writePem(temp.dir, 'deep.pem', deepLeaf.certificate)])).toThrow(/path length constraint exceeded/);
  });

  it('a CA certificate as the signer, even one trusted directly: LEAF_IS_CA', () => {
    const { code, message } = rejection([intermediate.certificate], [root.certificate]);
    expect(code).toBe('LEAF_IS_CA');
    expect(message).toContain('"Test Intermediate CA" is a CA certificate');
    expect(rejection([root.certificate], [root.certificate]).code).toBe('LEAF_IS_CA');
  });

  it('a leaf whose keyUsage lacks digitalSignature: LEAF_NO_DIGITAL_SIGNATURE', () => {
    const agreeOnly = opensslIssue(temp.dir, 'agree-only', intermediate, { subject: '/CN=agree-only', extensions: 'basicConstraints=CA:FALSE\nkeyUsage=critical,keyAgreement' });
    const { code, message } = rejection([agreeOnly.certificate, intermediate.certificate], [root.certificate]);
    expect(code).toBe('LEAF_NO_DIGITAL_SIGNATURE');
    expect(message).toContain('"agree-only" may not make signatures');
    // Without keyUsage the leaf may sign.
    const plain = opensslIssue(temp.dir, 'plain-leaf', intermediate, { subject: '/CN=plain-leaf', extensions: 'basicConstraints=CA:FALSE' });
    expect(validateChain([plain.certificate, intermediate.certificate], { anchors: [root.certificate] }).path).toHaveLength(3);
  });

  it('an unknown critical extension: CERT_INVALID', () => {
    const odd = opensslIssue(temp.dir, 'odd', intermediate, { subject: '/CN=odd', extensions: 'basicConstraints=CA:FALSE\n1.3.6.1.4.1.99999.1=critical,ASN1:NULL' });
    const { code, message } = rejection([odd.certificate, intermediate.certificate], [root.certificate]);
    expect(code).toBe('CERT_INVALID');
    expect(message).toContain('unsupported critical extension 1.3.6.1.4.1.99999.1');
  });

  it('an empty chain: CERT_INVALID', () => {
    expect(rejection([], [root.certificate]).code).toBe('CERT_INVALID');
  });
});

describe('verifyKeyPair', () => {
  it('passes for the matching key and throws KEY_MISMATCH for another one', () => {
    expect(() => verifyKeyPair(leaf.privateKey, leaf.certificate)).not.toThrow();
    const err = thrown(() => verifyKeyPair(intermediate.privateKey, leaf.certificate));
    expect(err.code).toBe('KEY_MISMATCH');
    expect(err.message).toBe('the private key does not match certificate "connector.example.com"');
  });
});
