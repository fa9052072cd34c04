/**
 * Issuing and describing X.509 certificates. Certificates are assembled as DER (forge.asn1) around the
 * SubjectPublicKeyInfo exported by node and signed by node:crypto, so EC and RSA keys take the same path.
 * node's X509Certificate is the in-memory certificate type throughout.
 */
import { X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import { PkiError, ValidationError } from '../errors';
import {
  MalformedDerError,
  algorithmIdentifier,
  explicit,
  integer,
  parseDer,
  pemBlocks,
  sequence,
  signStructure,
  signatureAlgorithm,
  time,
  toPem,
  unsignedInteger,
  type Asn1,
} from './asn1';
import { assertMayIssue, verifyKeyPair } from './chain';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectAltNamesFor,
  subjectKeyIdentifierExtension,
  type KeyUsage,
} from './extensions';
import { colonHex, connectorId, fingerprintSha256, keyIdentifier } from './identifiers';
import { generateKeyPair, keyTypeOf, publicKeyOf, signatureHashFor, spkiDer, type KeyType } from './keys';
import { distinguishedNameFields, encodeName, formatName, type DistinguishedName } from './names';
import { certificateFields, certificateLabel } from './x509';

export type { DistinguishedName } from './names';

export type CertificateProfile = 'ca' | 'connector';

export interface CertificateAuthority {
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export interface IssueCertificateOptions {
  subject: DistinguishedName;
  subjectPublicKey: KeyObject;
  /** The signing CA, or the subject's own private key for a self-signed certificate. */
  issuer: CertificateAuthority | { selfSigned: KeyObject };
  profile: CertificateProfile;
  validityDays: number;
  /** Default: now minus five minutes, so peers with slightly slow clocks accept a fresh certificate. */
  notBefore?: Date;
  /** Required for the connector profile: the SAN URI that identifies the participant (e.g. a did:web). */
  participantId?: string;
  /** DNS names and IP literals for the SAN. */
  hostnames?: string[];
  /** CA profile only: how many intermediate CA certificates may follow this one. */
  pathLength?: number;
}

const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const MAX_VALIDITY_DAYS = 100 * 365;

/** Issues (signs) a certificate; see IssueCertificateOptions. Throws ValidationError for bad input. */
export function issueCertificate(opts: IssueCertificateOptions): X509Certificate {
  const { subject, profile, validityDays, participantId, hostnames, pathLength } = opts;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw new ValidationError(`must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}`, '/validityDays');
  }
  if (pathLength !== undefined && (profile !== 'ca' || !Number.isInteger(pathLength) || pathLength < 0)) {
    throw new ValidationError('a path length is a non-negative integer and only applies to CA certificates', '/pathLength');
  }
  if (profile === 'connector' && participantId === undefined) {
    throw new ValidationError('a connector certificate needs a participant id', '/participantId');
  }
  const subjectPublicKey = publicKeyOf(opts.subjectPublicKey);
  const subjectKeyType = keyTypeOf(subjectPublicKey);
  const subjectKeyId = keyIdentifier(subjectPublicKey);
  const signer = resolveSigner(opts.issuer, subject, subjectPublicKey, subjectKeyId, profile);

  const notBefore = wholeSeconds(opts.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS));
  if (Number.isNaN(notBefore.getTime())) throw new ValidationError('is not a valid date', '/notBefore');
  const notAfter = new Date(notBefore.getTime() + validityDays * DAY_MS);

  const san = subjectAltNameExtension(subjectAltNamesFor(participantId, hostnames));
  const extensions: Asn1[] =
    profile === 'ca'
      ? [
          basicConstraintsExtension(true, pathLength),
          keyUsageExtension(['digitalSignature', 'keyCertSign', 'cRLSign']),
        ]
      : [
          basicConstraintsExtension(false),
          // keyEncipherment only means something for RSA key transport (TLS 1.2 RSA kex); never for EC keys.
          keyUsageExtension(subjectKeyType === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature']),
          extendedKeyUsageExtension(['serverAuth', 'clientAuth']),
        ];
  extensions.push(subjectKeyIdentifierExtension(subjectKeyId), authorityKeyIdentifierExtension(signer.keyIdentifier));
  if (san) extensions.push(san);

  const alg = signatureAlgorithm(keyTypeOf(signer.privateKey), signatureHashFor(signer.privateKey));
  const tbsCertificate = sequence([
    explicit(0, integer(2)), // v3
    unsignedInteger(randomSerialNumber()),
    algorithmIdentifier(alg),
    signer.name,
    sequence([time(notBefore), time(notAfter)]),
    encodeName(subject),
    parseDer(spkiDer(subjectPublicKey)),
    explicit(3, sequence(extensions)),
  ]);
  return new X509Certificate(signStructure(tbsCertificate, alg, signer.privateKey));
}

/** Generates a key pair and a self-signed root CA certificate for it. */
export function createCertificateAuthority(opts: {
  subject: DistinguishedName;
  keyType: KeyType;
  validityDays: number;
  pathLength?: number;
}): CertificateAuthority {
  const { privateKey, publicKey } = generateKeyPair(opts.keyType);
  const certificate = issueCertificate({
    subject: opts.subject,
    subjectPublicKey: publicKey,
    issuer: { selfSigned: privateKey },
    profile: 'ca',
    validityDays: opts.validityDays,
    ...(opts.pathLength !== undefined ? { pathLength: opts.pathLength } : {}),
  });
  return { certificate, privateKey };
}

interface Signer {
  privateKey: KeyObject;
  /** The issuer Name for the new certificate. */
  name: Asn1;
  /** Goes into the Authority Key Identifier. */
  keyIdentifier: Buffer;
}

function resolveSigner(
  issuer: IssueCertificateOptions['issuer'],
  subject: DistinguishedName,
  subjectPublicKey: KeyObject,
  subjectKeyId: Buffer,
  profile: CertificateProfile,
): Signer {
  if ('selfSigned' in issuer) {
    if (!publicKeyOf(issuer.selfSigned).equals(subjectPublicKey)) {
      throw new PkiError('KEY_MISMATCH', 'a self-signed certificate must be signed with the private key of its subject public key');
    }
    return { privateKey: issuer.selfSigned, name: encodeName(subject), keyIdentifier: subjectKeyId };
  }
  const { certificate, privateKey } = issuer;
  verifyKeyPair(privateKey, certificate);
  // A new CA certificate will itself be an intermediate below the issuer.
  assertMayIssue(certificate, profile === 'ca' ? 1 : 0);
  const fields = certificateFields(certificate);
  if (fields.notAfter < new Date()) {
    throw new PkiError('CERT_EXPIRED', `CA certificate ${certificateLabel(certificate)} expired on ${fields.notAfter.toISOString()}`);
  }
  return {
    privateKey,
    // The issuer's subject as encoded, byte for byte: name chaining must not depend on re-encoding.
    name: fields.subjectName,
    keyIdentifier: fields.subjectKeyIdentifier ?? keyIdentifier(certificate.publicKey),
  };
}

/** 16 random bytes, positive, with the second-highest bit set so the DER INTEGER is always exactly 16 bytes. */
function randomSerialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** X.509 times have one-second resolution; truncating here keeps notAfter - notBefore exact. */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// Describing certificates.

export interface CertificateInfo {
  /** RFC 4514 form, most specific first: "CN=node-1, O=Example, C=DE". */
  subject: string;
  issuer: string;
  /** Upper-case hex. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Fractional days until notAfter; negative once expired. */
  daysToExpiry: number;
  /** The first SAN URI. */
  participantId: string | null;
  uris: string[];
  /** DNS SANs. */
  hostnames: string[];
  ipAddresses: string[];
  /** Upper-case colon-separated hex. */
  subjectKeyIdentifier: string | null;
  authorityKeyIdentifier: string | null;
  keyType: KeyType;
  isCa: boolean;
  /** e.g. 'digitalSignature', 'keyCertSign'. */
  keyUsage: KeyUsage[];
  /** e.g. 'serverAuth', 'clientAuth'; unnamed usages as dotted OIDs. */
  extendedKeyUsage: string[];
  fingerprintSha256: string;
  connectorId: string | null;
}

export function certificateInfo(cert: X509Certificate, now = new Date()): CertificateInfo {
  const fields = certificateFields(cert);
  const { uris, dnsNames, ipAddresses } = fields.subjectAltNames;
  return {
    subject: formatName(fields.subject),
    issuer: formatName(fields.issuer),
    serialNumber: cert.serialNumber.toUpperCase(),
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    daysToExpiry: (fields.notAfter.getTime() - now.getTime()) / DAY_MS,
    participantId: uris[0] ?? null,
    uris: [...uris],
    hostnames: [...dnsNames],
    ipAddresses: [...ipAddresses],
    subjectKeyIdentifier: fields.subjectKeyIdentifier ? colonHex(fields.subjectKeyIdentifier) : null,
    authorityKeyIdentifier: fields.authorityKeyIdentifier ? colonHex(fields.authorityKeyIdentifier) : null,
    keyType: keyTypeOf(cert.publicKey),
    isCa: fields.basicConstraints?.isCa ?? false,
    keyUsage: [...(fields.keyUsage ?? [])],
    extendedKeyUsage: [...(fields.extendedKeyUsage ?? [])],
    fingerprintSha256: fingerprintSha256(cert),
    connectorId: connectorId(cert),
  };
}

/**
 * The subject attributes hedgerow knows (first value of each), for policies on verified certificate attributes.
 * Only meaningful for a certificate whose chain has been validated.
 */
export function subjectAttributes(cert: X509Certificate): Partial<DistinguishedName> {
  return distinguishedNameFields(certificateFields(cert).subject);
}

// ---------------------------------------------------------------------------------------------------------------
// PEM.

export function certificateToPem(cert: X509Certificate): string {
  return toPem('CERTIFICATE', cert.raw);
}

/**
 * All certificates of a PEM bundle, in order. Other PEM blocks are ignored. Throws PkiError CERT_INVALID if there
 * is no certificate or one cannot be read (each certificate is fully decoded here, so a bad one fails on load).
 */
export function readCertificatesPem(pem: string): X509Certificate[] {
  let blocks: ReturnType<typeof pemBlocks>;
  try {
    blocks = pemBlocks(pem).filter((block) => block.label === 'CERTIFICATE');
  } catch (err) {
    if (err instanceof MalformedDerError) throw new PkiError('CERT_INVALID', `not a valid PEM certificate: ${err.message}`, err);
    throw err;
  }
  if (blocks.length === 0) throw new PkiError('CERT_INVALID', 'no certificate found: expected PEM "-----BEGIN CERTIFICATE-----"');
  return blocks.map(({ der }, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch (err) {
      throw new PkiError('CERT_INVALID', `PEM certificate #${i + 1} is not a valid X.509 certificate (${(err as Error).message})`, err);
    }
    certificateFields(cert);
    return cert;
  });
}
