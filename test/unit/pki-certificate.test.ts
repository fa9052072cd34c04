import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { PkiError, ValidationError } from '../../src/errors';
import {
  certificateInfo,
  certificateToPem,
  generateKeyPair,
  issueCertificate,
  readCertificatesPem,
  subjectAttributes,
  type KeyType,
} from '../../src/pki';
import { makeLeaf, makeRootCa, makeTempDir, openssl, p384KeyPair, rsaKeyPair, thrown, writePem, type TestCa } from './pki-fixtures';

const PARTICIPANT = 'did:web:connector.example.com';
const HOSTNAMES = ['connector.example.com', '192.0.2.10', '2001:db8::1'];

const temp = makeTempDir();
afterAll(() => temp.cleanup());

function issueConnector(ca: TestCa, keyType: KeyType, extra: { hostnames?: string[]; participantId?: string } = {}) {
  const { privateKey, publicKey } = keyType === 'rsa' ? rsaKeyPair() : generateKeyPair('ec');
  const certificate = issueCertificate({
    subject: { commonName: 'connector.example.com', organization: 'Example Participant', organizationalUnit: 'Data', country: 'DE', locality: 'Berlin' },
    subjectPublicKey: publicKey,
    issuer: ca,
    profile: 'connector',
    validityDays: 365,
    participantId: extra.participantId ?? PARTICIPANT,
    hostnames: extra.hostnames ?? HOSTNAMES,
  });
  return { certificate, privateKey };
}

describe.each<KeyType>(['ec', 'rsa'])('connector certificate with an %s key from a CA of the same type', (keyType) => {
  let ca: TestCa;
  let leaf: X509Certificate;
  beforeAll(() => {
    ca = makeRootCa(keyType);
    leaf = issueConnector(ca, keyType).certificate;
  });

  it('is issued by the CA, as node sees it', () => {
    expect(leaf.checkIssued(ca.certificate)).toBe(true);
    expect(leaf.verify(ca.certificate.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subjectAltName).toBe(
      'URI:did:web:connector.example.com, DNS:connector.example.com, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1',
    );
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(leaf.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/); // positive, exactly 16 bytes
    expect(leaf.publicKey.asymmetricKeyType).toBe(keyType);
  });

  it('has every extension of the connector profile', () => {
    const info = certificateInfo(leaf);
    const caInfo = certificateInfo(ca.certificate);
    expect(info).toMatchObject({
      subject: 'CN=connector.example.com, OU=Data, O=Example Participant, L=Berlin, C=DE',
      issuer: 'CN=Test Root CA, O=Hedgerow Tests, C=DE',
      participantId: PARTICIPANT,
      uris: [PARTICIPANT],
      hostnames: ['connector.example.com'],
      ipAddresses: ['192.0.2.10', '2001:db8::1'],
      keyType,
      isCa: false,
      keyUsage: keyType === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'],
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
      authorityKeyIdentifier: caInfo.subjectKeyIdentifier,
      fingerprintSha256: leaf.fingerprint256,
      serialNumber: leaf.serialNumber,
    });
    expect(info.subjectKeyIdentifier).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(info.connectorId).toBe(`${info.subjectKeyIdentifier}:keyid:${caInfo.subjectKeyIdentifier}`);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(365 * 86_400_000);
    // Default notBefore: five minutes before now, for peers whose clocks are a little behind.
    expect(Date.now() - info.notBefore.getTime()).toBeGreaterThanOrEqual(5 * 60_000 - 1000);
    expect(Date.now() - info.notBefore.getTime()).toBeLessThan(6 * 60_000);
    expect(info.daysToExpiry).toBeGreaterThan(364.9);
  });

  it('reads the same in openssl x509 -text', () => {
    const file = writePem(temp.dir, `leaf-${keyType}.pem`, leaf);
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    const info = certificateInfo(leaf);
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toContain(`Signature Algorithm: ${keyType === 'ec' ? 'ecdsa-with-SHA256' : 'sha256WithRSAEncryption'}`);
    expect(text).toMatch(/X509v3 Basic Constraints: *\n\s+CA:FALSE/);
    expect(text).toMatch(
      keyType === 'rsa'
        ? /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/
        : /X509v3 Key Usage: critical\n\s+Digital Signature\n/,
    );
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(new RegExp(`X509v3 Subject Key Identifier: *\\n\\s+${info.subjectKeyIdentifier}`));
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: *\\n\\s+(keyid:)?${info.authorityKeyIdentifier}`));
    expect(text).toContain(
      'URI:did:web:connector.example.com, DNS:connector.example.com, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1',
    );
  });

  it('verifies with openssl verify (strict X.509, TLS server and client purposes)', () => {
    const caFile = writePem(temp.dir, `ca-${keyType}.pem`, ca.certificate);
    const leafFile = writePem(temp.dir, `leaf-${keyType}.pem`, leaf);
    for (const purpose of ['sslserver', 'sslclient']) {
      expect(openssl(['verify', '-x509_strict', '-purpose', purpose, '-CAfile', caFile, leafFile])).toContain(`${leafFile}: OK`);
    }
  });

  it('makes a self-signed CA certificate with the CA profile', () => {
    const info = certificateInfo(ca.certificate);
    expect(ca.certificate.ca).toBe(true);
    expect(ca.certificate.checkIssued(ca.certificate)).toBe(true);
    expect(info.isCa).toBe(true);
    expect(info.keyUsage).toEqual(['digitalSignature', 'keyCertSign', 'cRLSign']);
    expect(info.authorityKeyIdentifier).toBe(info.subjectKeyIdentifier);
    expect(info.extendedKeyUsage).toEqual([]);
    const text = openssl(['x509', '-in', writePem(temp.dir, `ca-${keyType}.pem`, ca.certificate), '-noout', '-text']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
  });
});

describe('issueCertificate', () => {
  let ca: TestCa;
  beforeAll(() => {
    ca = makeRootCa('ec');
  });

  it('writes pathLen for a CA and openssl verifies a CA it issued', () => {
    const root = makeRootCa('ec', 'Root with pathLen', 1);
    expect(openssl(['x509', '-in', writePem(temp.dir, 'root-pathlen.pem', root.certificate), '-noout', '-text'])).toMatch(
      /CA:TRUE, pathlen:1/,
    );
    const { privateKey, publicKey } = generateKeyPair('ec');
    const intermediate = issueCertificate({ subject: { commonName: 'Issuing CA' }, subjectPublicKey: publicKey, issuer: root, profile: 'ca', validityDays: 30 });
    const leaf = makeLeaf({ certificate: intermediate, privateKey });
    const chainFile = writePem(temp.dir, 'untrusted.pem', intermediate);
    const leafFile = writePem(temp.dir, 'leaf-via-intermediate.pem', leaf.certificate);
    const rootFile = writePem(temp.dir, 'root-pathlen.pem', root.certificate);
    expect(openssl(['verify', '-x509_strict', '-CAfile', rootFile, '-untrusted', chainFile, leafFile])).toContain(': OK');
  });

  it('signs with ECDSA SHA-384 for a P-384 CA key and reads P-384 certificates', () => {
    const { privateKey, publicKey } = p384KeyPair();
    const certificate = issueCertificate({
      subject: { commonName: 'P-384 Root' },
      subjectPublicKey: publicKey,
      issuer: { selfSigned: privateKey },
      profile: 'ca',
      validityDays: 10,
    });
    const leaf = makeLeaf({ certificate, privateKey });
    expect(certificateInfo(certificate).keyType).toBe('ec');
    const text = openssl(['x509', '-in', writePem(temp.dir, 'p384-leaf.pem', leaf.certificate), '-noout', '-text']);
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA384');
    expect(openssl(['verify', '-x509_strict', '-CAfile', writePem(temp.dir, 'p384.pem', certificate), writePem(temp.dir, 'p384-leaf.pem', leaf.certificate)])).toContain(': OK');
  });

  it('can make a self-signed connector certificate', () => {
    const { privateKey, publicKey } = generateKeyPair('ec');
    const cert = issueCertificate({
      subject: { commonName: 'standalone' },
      subjectPublicKey: publicKey,
      issuer: { selfSigned: privateKey },
      profile: 'connector',
      validityDays: 1,
      participantId: 'urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6',
    });
    const info = certificateInfo(cert);
    expect(info.authorityKeyIdentifier).toBe(info.subjectKeyIdentifier);
    expect(info.participantId).toBe('urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6');
    expect(info.hostnames).toEqual([]);
    expect(cert.verify(publicKey)).toBe(true);
  });

  it('uses GeneralizedTime from 2050 and keeps notBefore when given', () => {
    const notBefore = new Date('2049-12-31T23:00:00.678Z');
    const leaf = makeLeaf(ca, { notBefore, validityDays: 2 });
    const info = certificateInfo(leaf.certificate);
    expect(info.notBefore.toISOString()).toBe('2049-12-31T23:00:00.000Z');
    expect(info.notAfter.toISOString()).toBe('2050-01-02T23:00:00.000Z');
    expect(openssl(['x509', '-in', writePem(temp.dir, 'y2050.pem', leaf.certificate), '-noout', '-enddate'])).toContain('Jan  2 23:00:00 2050 GMT');
  });

  it('encodes non-ASCII names as UTF-8 and normalises SAN values', () => {
    const { publicKey } = generateKeyPair('ec');
    const cert = issueCertificate({
      subject: { commonName: 'Zaunkönig Datenraum', organization: 'Müller & Söhne, GmbH' },
      subjectPublicKey: publicKey,
      issuer: ca,
      profile: 'connector',
      validityDays: 1,
      participantId: PARTICIPANT,
      hostnames: ['Connector.Example.COM', '[::ffff:192.0.2.1]', '*.nodes.example.com', 'fe80:0:0:0:0:0:0:1'],
    });
    expect(subjectAttributes(cert)).toEqual({ commonName: 'Zaunkönig Datenraum', organization: 'Müller & Söhne, GmbH' });
    expect(certificateInfo(cert).subject).toBe('CN=Zaunkönig Datenraum, O=Müller & Söhne\\, GmbH');
    expect(certificateInfo(cert).hostnames).toEqual(['connector.example.com', '*.nodes.example.com']);
    expect(certificateInfo(cert).ipAddresses).toEqual(['::ffff:c000:201', 'fe80::1']);
    const text = openssl(['x509', '-in', writePem(temp.dir, 'utf8.pem', cert), '-noout', '-subject', '-nameopt', 'utf8,sep_comma_plus']);
    expect(text).toContain('CN=Zaunkönig Datenraum');
  });

  it.each([
    [{ participantId: 'not a uri' }, '/participantId'],
    [{ participantId: 'connector.example.com' }, '/participantId'],
    [{ participantId: 'did:web:example.com#key-1' }, '/participantId'],
    [{ hostnames: ['under_score.example.com'] }, '/hostnames/0'],
    [{ hostnames: ['ok.example.com', '-bad.example.com'] }, '/hostnames/1'],
    [{ hostnames: ['256.1.1.1'] }, '/hostnames/0'],
    [{ hostnames: ['fe80::1%eth0'] }, '/hostnames/0'],
    [{ hostnames: ['bücher.example'] }, '/hostnames/0'],
    [{ hostnames: [''] }, '/hostnames/0'],
  ])('rejects invalid subject alternative names %j', (extra, path) => {
    const err = thrown(() => issueConnector(ca, 'ec', extra));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).path).toBe(path);
  });

  it.each([
    [{ validityDays: 0 }, '/validityDays'],
    [{ validityDays: 1.5 }, '/validityDays'],
    [{ pathLength: 1 }, '/pathLength'],
    [{ participantId: undefined }, '/participantId'],
    [{ subject: { commonName: '' } }, '/subject/commonName'],
    [{ subject: { commonName: 'x', country: 'Germany' } }, '/subject/country'],
    [{ subject: { commonName: 'x'.repeat(65) } }, '/subject/commonName'],
    [{ notBefore: new Date('nonsense') }, '/notBefore'],
  ])('rejects invalid options %j', (override, path) => {
    const { publicKey } = generateKeyPair('ec');
    const err = thrown(() =>
      issueCertificate({
        subject: { commonName: 'x' },
        subjectPublicKey: publicKey,
        issuer: ca,
        profile: 'connector',
        validityDays: 10,
        participantId: PARTICIPANT,
        ...override,
      }),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).path).toBe(path);
  });

  it('refuses to sign with a certificate that is not a CA, or with the wrong key', () => {
    const leaf = makeLeaf(ca);
    const { publicKey } = generateKeyPair('ec');
    const base = { subject: { commonName: 'x' }, subjectPublicKey: publicKey, profile: 'connector' as const, validityDays: 1, participantId: PARTICIPANT };
    expect(thrown(() => issueCertificate({ ...base, issuer: leaf })).code).toBe('ISSUER_NOT_CA');
    const wrongKey = { certificate: ca.certificate, privateKey: generateKeyPair('ec').privateKey };
    expect(thrown(() => issueCertificate({ ...base, issuer: wrongKey })).code).toBe('KEY_MISMATCH');
    expect(thrown(() => issueCertificate({ ...base, issuer: { selfSigned: generateKeyPair('ec').privateKey } })).code).toBe('KEY_MISMATCH');
  });

  it('accepts a private key as the subject key and rejects unsupported keys', () => {
    const { privateKey } = generateKeyPair('ec');
    const cert = makeLeaf(ca);
    expect(cert.certificate.publicKey.asymmetricKeyType).toBe('ec');
    const fromPrivate = issueCertificate({
      subject: { commonName: 'x' },
      subjectPublicKey: privateKey,
      issuer: ca,
      profile: 'connector',
      validityDays: 1,
      participantId: PARTICIPANT,
    });
    expect(fromPrivate.publicKey.equals(createPublicKey(privateKey))).toBe(true);
    const ed25519 = generateKeyPairSync('ed25519');
    const err = thrown(() =>
      issueCertificate({ subject: { commonName: 'x' }, subjectPublicKey: ed25519.publicKey, issuer: ca, profile: 'connector', validityDays: 1, participantId: PARTICIPANT }),
    );
    expect(err).toBeInstanceOf(PkiError);
    expect(err.code).toBe('KEY_INVALID');
  });
});

describe('PEM', () => {
  let ca: TestCa;
  beforeAll(() => {
    ca = makeRootCa('ec');
  });

  it('round-trips a bundle in order, ignoring text and other blocks around it', () => {
    const leaf = makeLeaf(ca).certificate;
    const pem = `subject=whatever\r\n${certificateToPem(leaf).replace(/\n/g, '\r\n')}-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n${certificateToPem(ca.certificate)}`;
    const certs = readCertificatesPem(pem);
    expect(certs.map((c) => c.fingerprint256)).toEqual([leaf.fingerprint256, ca.certificate.fingerprint256]);
    expect(certificateToPem(leaf)).toMatch(/^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
  });

  it.each([
    ['garbage', 'hello world', /no certificate found/],
    ['a private key only', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /no certificate found/],
    ['damaged base64', '-----BEGIN CERTIFICATE-----\nMII%%%\n-----END CERTIFICATE-----\n', /not valid base64/],
    ['not DER', '-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n', /PEM certificate #1 is not a valid X\.509 certificate/],
  ])('rejects %s with CERT_INVALID', (_name, pem, message) => {
    const err = thrown(() => readCertificatesPem(pem));
    expect(err).toBeInstanceOf(PkiError);
    expect(err.code).toBe('CERT_INVALID');
    expect(err.message).toMatch(message);
  });
});
