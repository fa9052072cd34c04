/**
 * Reads the fields node's X509Certificate does not expose in structured form (names, key identifiers, key usage,
 * basic constraints, SAN) from the certificate DER. Parsed once per certificate object.
 */
import type { X509Certificate } from 'node:crypto';
import { PkiError } from '../errors';
import { childrenOf, isContext, parseDer, sequenceChildren, timeOf, type Asn1 } from './asn1';
import {
  EXTENSION_OIDS,
  decodeExtensions,
  readAuthorityKeyIdentifier,
  readBasicConstraints,
  readExtendedKeyUsage,
  readKeyUsage,
  readSubjectAltName,
  readSubjectKeyIdentifier,
  type BasicConstraints,
  type Extension,
  type KeyUsage,
  type SubjectAltNames,
} from './extensions';
import { decodeName, formatName, type NameAttribute } from './names';

export interface CertificateFields {
  issuer: NameAttribute[];
  subject: NameAttribute[];
  /** The subject Name exactly as encoded, to become the issuer field of certificates this one signs. */
  subjectName: Asn1;
  notBefore: Date;
  notAfter: Date;
  extensions: Map<string, Extension>;
  /** null when the extension is absent. */
  basicConstraints: BasicConstraints | null;
  keyUsage: KeyUsage[] | null;
  extendedKeyUsage: string[] | null;
  subjectKeyIdentifier: Buffer | null;
  authorityKeyIdentifier: Buffer | null;
  subjectAltNames: SubjectAltNames;
}

const parsed = new WeakMap<X509Certificate, CertificateFields>();

/** The decoded fields of a certificate; PkiError CERT_INVALID if its DER or an extension cannot be read. */
export function certificateFields(cert: X509Certificate): CertificateFields {
  let fields = parsed.get(cert);
  if (!fields) {
    try {
      fields = parseCertificate(cert.raw);
    } catch (err) {
      const subject = cert.subject.replace(/\n/g, ', ');
      throw new PkiError('CERT_INVALID', `certificate "${subject}" cannot be read: ${(err as Error).message}`, err);
    }
    parsed.set(cert, fields);
  }
  return fields;
}

function parseCertificate(der: Buffer): CertificateFields {
  const [tbs] = sequenceChildren(parseDer(der), 'Certificate');
  const tbsFields = sequenceChildren(tbs, 'TBSCertificate');
  // version [0] is absent in v1 certificates; everything after it is positional.
  const offset = isContext(tbsFields[0], 0) ? 1 : 0;
  const [, , issuer, validity, subject] = tbsFields.slice(offset);
  const [notBefore, notAfter] = sequenceChildren(validity, 'Validity');
  const extensionsWrapper = tbsFields.slice(offset + 6).find((node) => isContext(node, 3));
  const extensions = extensionsWrapper ? decodeExtensions(childrenOf(extensionsWrapper, 'extensions')[0]!) : new Map();
  const ext = (extensionOid: string): Extension | undefined => extensions.get(extensionOid);

  const basicConstraints = ext(EXTENSION_OIDS.basicConstraints);
  const keyUsage = ext(EXTENSION_OIDS.keyUsage);
  const extendedKeyUsage = ext(EXTENSION_OIDS.extKeyUsage);
  const subjectKeyIdentifier = ext(EXTENSION_OIDS.subjectKeyIdentifier);
  const authorityKeyIdentifier = ext(EXTENSION_OIDS.authorityKeyIdentifier);
  const subjectAltName = ext(EXTENSION_OIDS.subjectAltName);
  return {
    issuer: decodeName(issuer!),
    subject: decodeName(subject!),
    subjectName: subject!,
    notBefore: timeOf(notBefore, 'notBefore'),
    notAfter: timeOf(notAfter, 'notAfter'),
    extensions,
    basicConstraints: basicConstraints ? readBasicConstraints(basicConstraints) : null,
    keyUsage: keyUsage ? readKeyUsage(keyUsage) : null,
    extendedKeyUsage: extendedKeyUsage ? readExtendedKeyUsage(extendedKeyUsage) : null,
    subjectKeyIdentifier: subjectKeyIdentifier ? readSubjectKeyIdentifier(subjectKeyIdentifier) : null,
    authorityKeyIdentifier: authorityKeyIdentifier ? readAuthorityKeyIdentifier(authorityKeyIdentifier) : null,
    subjectAltNames: subjectAltName ? readSubjectAltName(subjectAltName) : { uris: [], dnsNames: [], ipAddresses: [] },
  };
}

/** How error messages name a certificate: its subject common name, or the whole subject if it has none. */
export function certificateLabel(cert: X509Certificate): string {
  try {
    const { subject } = certificateFields(cert);
    return `"${subject.find((a) => a.shortName === 'CN')?.value ?? formatName(subject)}"`;
  } catch {
    return `"${cert.subject.replace(/\n/g, ', ')}"`;
  }
}
