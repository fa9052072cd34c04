/** Identifiers derived from certificates and keys: fingerprints, key identifiers, the IDS connector id. */
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { bitStringOf, parseDer, sequenceChildren } from './asn1';
import { spkiDer } from './keys';
import { certificateFields } from './x509';

/** Upper-case hex with colons between bytes: "DD:CB:FD:...". */
export function colonHex(bytes: Buffer): string {
  return (bytes.toString('hex').toUpperCase().match(/../g) ?? []).join(':');
}

/** SHA-256 over the certificate DER, upper-case colon-separated hex (the form browsers and `openssl x509 -fingerprint` show). */
export function fingerprintSha256(cert: X509Certificate): string {
  return colonHex(createHash('sha256').update(cert.raw).digest());
}

/**
 * Key identifier by RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value (without its
 * unused-bits byte). Used for the Subject and Authority Key Identifier extensions.
 */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const [, subjectPublicKey] = sequenceChildren(parseDer(spkiDer(publicKey)), 'SubjectPublicKeyInfo');
  return createHash('sha1').update(bitStringOf(subjectPublicKey, 'subjectPublicKey').bytes).digest();
}

/** IDS connector id (as used by DAPS): "<SKI>:keyid:<AKI>", each as upper-case colon-separated hex. */
export function formatConnectorId(subjectKeyIdentifier: Buffer, authorityKeyIdentifier: Buffer): string {
  return `${colonHex(subjectKeyIdentifier)}:keyid:${colonHex(authorityKeyIdentifier)}`;
}

/** The connector id of a certificate; null if it lacks a Subject Key Identifier or an AKI keyIdentifier. */
export function connectorId(cert: X509Certificate): string | null {
  const { subjectKeyIdentifier, authorityKeyIdentifier } = certificateFields(cert);
  return subjectKeyIdentifier && authorityKeyIdentifier ? formatConnectorId(subjectKeyIdentifier, authorityKeyIdentifier) : null;
}
