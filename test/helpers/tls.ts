import { createCertificateAuthority, generateKeyPair, issueCertificate, certificateToPem, privateKeyToPem, type CertificateAuthority } from '../../src/pki';

/**
 * A TLS server identity for `localhost`, issued by `issuer` (e.g. a test dataspace CA loaded with
 * loadCaDirectory) or by a fresh throwaway CA. PEM strings, ready for https.createServer.
 */
export function localhostTls(issuer?: CertificateAuthority): { key: string; cert: string; caPem: string } {
  const ca = issuer ?? createCertificateAuthority({ subject: { commonName: 'hedgerow test CA' }, keyType: 'ec', validityDays: 2 });
  const { privateKey, publicKey } = generateKeyPair('ec');
  const cert = issueCertificate({
    subject: { commonName: 'localhost' },
    subjectPublicKey: publicKey,
    issuer: ca,
    profile: 'connector',
    validityDays: 1,
    participantId: 'did:web:localhost',
    hostnames: ['localhost'],
  });
  return { key: privateKeyToPem(privateKey), cert: certificateToPem(cert), caPem: certificateToPem(ca.certificate) };
}
