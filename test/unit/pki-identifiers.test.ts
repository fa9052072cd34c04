import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { certificateInfo, connectorId, fingerprintSha256, formatConnectorId } from '../../src/pki';
import { makeLeaf, makeRootCa, makeTempDir, openssl } from './pki-fixtures';

const temp = makeTempDir();
afterAll(() => temp.cleanup());

describe('formatConnectorId', () => {
  it('formats SKI and AKI as the IDS connector id', () => {
    const ski = Buffer.from('DDCBFD0B9384330111EB5D949488BE787D57FC4A', 'hex');
    const aki = Buffer.from('CB8CC7B68579A823A6CB15AB17502FE665435DE8', 'hex');
    expect(formatConnectorId(ski, aki)).toBe(
      'DD:CB:FD:0B:93:84:33:01:11:EB:5D:94:94:88:BE:78:7D:57:FC:4A:keyid:CB:8C:C7:B6:85:79:A8:23:A6:CB:15:AB:17:50:2F:E6:65:43:5D:E8',
    );
  });
});

describe('certificate identifiers', () => {
  it('fingerprint matches node and openssl; connector id is SKI:keyid:AKI (AKI = the CA SKI)', () => {
    const ca = makeRootCa('ec');
    const leaf = makeLeaf(ca).certificate;
    expect(fingerprintSha256(leaf)).toBe(leaf.fingerprint256);
    const file = path.join(temp.dir, 'leaf.pem');
    fs.writeFileSync(file, leaf.toString());
    expect(openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).toContain(`=${fingerprintSha256(leaf)}`);
    const leafInfo = certificateInfo(leaf);
    expect(connectorId(leaf)).toBe(`${leafInfo.subjectKeyIdentifier}:keyid:${certificateInfo(ca.certificate).subjectKeyIdentifier}`);
  });

  it('connector id is null without key identifiers (a v1 certificate made by openssl)', () => {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'v1.key', '-subj', '/CN=v1', '-out', 'v1.csr'], { cwd: temp.dir });
    openssl(['x509', '-req', '-in', 'v1.csr', '-signkey', 'v1.key', '-days', '1', '-out', 'v1.pem'], { cwd: temp.dir });
    const v1 = new X509Certificate(fs.readFileSync(path.join(temp.dir, 'v1.pem')));
    expect(connectorId(v1)).toBeNull();
    expect(certificateInfo(v1)).toMatchObject({ subjectKeyIdentifier: null, authorityKeyIdentifier: null, isCa: false, keyUsage: [], participantId: null });
  });
});
