import fs from 'node:fs';
import path from 'node:path';
import { createPublicKey } from 'node:crypto';
import { PkiError } from '../../src/errors';
import { certificateInfo, certificateToPem, createCsr, generateKeyPair, issueCertificate, parseCsr, type KeyType } from '../../src/pki';
import { makeRootCa, makeTempDir, openssl, rsaKeyPair, thrown, writePem, type TestCa } from './pki-fixtures';

const temp = makeTempDir();
afterAll(() => temp.cleanup());

let ca: TestCa;
beforeAll(() => {
  ca = makeRootCa('ec');
});

function writeFile(name: string, text: string): string {
  const file = path.join(temp.dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe.each<KeyType>(['ec', 'rsa'])('createCsr with an %s key', (keyType) => {
  const { privateKey } = keyType === 'rsa' ? rsaKeyPair() : generateKeyPair('ec');
  const csr = createCsr({
    privateKey,
    subject: { commonName: 'connector.example.com', organization: 'Example', country: 'DE' },
    participantId: 'did:web:connector.example.com',
    hostnames: ['connector.example.com', '192.0.2.7'],
  });

  it('is a PEM request that openssl verifies and reads', () => {
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const file = writeFile(`ours-${keyType}.csr`, csr);
    expect(openssl(['req', '-verify', '-in', file, '-noout'])).toMatch(/verify OK|self-signature ok/i);
    const text = openssl(['req', '-in', file, '-noout', '-text']);
    expect(text).toContain('Subject: C = DE, O = Example, CN = connector.example.com');
    expect(text).toContain('Requested Extensions:');
    expect(text).toContain('URI:did:web:connector.example.com, DNS:connector.example.com, IP Address:192.0.2.7');
  });

  it('parses back to the same subject, key and names', () => {
    const parsed = parseCsr(csr);
    expect(parsed.subject).toEqual({ commonName: 'connector.example.com', organization: 'Example', country: 'DE' });
    expect(parsed.publicKey.equals(createPublicKey(privateKey))).toBe(true);
    expect(parsed.participantId).toBe('did:web:connector.example.com');
    expect(parsed.hostnames).toEqual(['connector.example.com', '192.0.2.7']);
  });
});

describe('parseCsr', () => {
  it.each<[string, string[]]>([
    ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']],
    ['rsa', ['-newkey', 'rsa:2048']],
  ])('reads an openssl-made %s CSR; the certificate issued from it verifies with openssl', (name, keyArgs) => {
    openssl(
      ['req', '-new', ...keyArgs, '-nodes', '-keyout', `openssl-${name}.key`, '-subj', '/C=DE/L=Köln/O=Example GmbH/OU=Data/CN=node-7',
        '-addext', 'subjectAltName=URI:did:web:node7.example.com,DNS:node7.example.com,IP:2001:db8::7', '-out', `openssl-${name}.csr`, '-utf8'],
      { cwd: temp.dir },
    );
    const parsed = parseCsr(fs.readFileSync(path.join(temp.dir, `openssl-${name}.csr`), 'utf8'));
    expect(parsed.subject).toEqual({ commonName: 'node-7', organization: 'Example GmbH', organizationalUnit: 'Data', country: 'DE', locality: 'Köln' });
    expect(parsed.participantId).toBe('did:web:node7.example.com');
    expect(parsed.hostnames).toEqual(['node7.example.com', '2001:db8::7']);

    const cert = issueCertificate({
      subject: parsed.subject,
      subjectPublicKey: parsed.publicKey,
      issuer: ca,
      profile: 'connector',
      validityDays: 30,
      participantId: parsed.participantId!,
      hostnames: parsed.hostnames,
    });
    expect(certificateInfo(cert).ipAddresses).toEqual(['2001:db8::7']);
    const caFile = writePem(temp.dir, 'ca.pem', ca.certificate);
    const certFile = writeFile(`openssl-${name}.crt`, certificateToPem(cert));
    expect(openssl(['verify', '-x509_strict', '-CAfile', caFile, certFile])).toContain(': OK');
    // The certificate belongs to openssl's key.
    expect(openssl(['x509', '-in', certFile, '-noout', '-pubkey'])).toBe(openssl(['pkey', '-in', path.join(temp.dir, `openssl-${name}.key`), '-pubout']));
  });

  it('reads a CSR without SAN', () => {
    const csr = createCsr({ privateKey: generateKeyPair('ec').privateKey, subject: { commonName: 'plain' } });
    expect(parseCsr(csr)).toMatchObject({ subject: { commonName: 'plain' }, participantId: null, hostnames: [] });
  });

  it('rejects a request whose content was changed after signing: CSR_INVALID', () => {
    const csr = createCsr({ privateKey: generateKeyPair('ec').privateKey, subject: { commonName: 'honest' } });
    const der = Buffer.from(csr.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('honest'));
    der.write('hacker', at);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const err = thrown(() => parseCsr(tampered));
    expect(err).toBeInstanceOf(PkiError);
    expect(err.code).toBe('CSR_INVALID');
    expect(err.message).toContain('the signature does not verify');
  });

  it.each<[string, () => string, RegExp]>([
    ['garbage', () => 'nope', /found 0/],
    ['a certificate', () => certificateToPem(ca.certificate), /found 0/],
    ['truncated DER', () => '-----BEGIN CERTIFICATE REQUEST-----\nMIIBADCBpwIBADAR\n-----END CERTIFICATE REQUEST-----\n', /malformed DER/],
  ])('rejects %s: CSR_INVALID', (_name, pem, message) => {
    const err = thrown(() => parseCsr(pem()));
    expect(err.code).toBe('CSR_INVALID');
    expect(err.message).toMatch(message);
  });
});
