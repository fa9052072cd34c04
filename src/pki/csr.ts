/** PKCS#10 certificate signing requests (RFC 2986), carrying the SAN in an extensionRequest attribute (RFC 2985). */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { HedgerowError, PkiError } from '../errors';
import {
  Asn1Type,
  MalformedDerError,
  bitStringOf,
  childrenOf,
  expectUniversal,
  implicitConstructed,
  integer,
  isContext,
  oid,
  oidOf,
  parseDer,
  pemBlocks,
  sequence,
  sequenceChildren,
  set,
  signStructure,
  signatureAlgorithm,
  signatureAlgorithmOf,
  smallIntegerOf,
  toDer,
  toPem,
  type Asn1,
} from './asn1';
import {
  EXTENSION_OIDS,
  decodeExtensions,
  readSubjectAltName,
  subjectAltNameExtension,
  subjectAltNamesFor,
  type SubjectAltNames,
} from './extensions';
import { keyTypeOf, signatureHashFor, spkiDer } from './keys';
import { decodeName, distinguishedNameFields, encodeName, type DistinguishedName } from './names';

const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';

export interface CsrOptions {
  privateKey: KeyObject;
  subject: DistinguishedName;
  participantId?: string;
  hostnames?: string[];
}

export interface ParsedCsr {
  /** The attributes hedgerow writes (CN, O, OU, C, L); others in the request are not carried over. */
  subject: DistinguishedName;
  publicKey: KeyObject;
  participantId: string | null;
  /** DNS names and IP addresses, as `issueCertificate` takes them. */
  hostnames: string[];
}

/** A PEM "CERTIFICATE REQUEST" signed with the private key. */
export function createCsr({ privateKey, subject, participantId, hostnames }: CsrOptions): string {
  if (privateKey.type !== 'private') {
    throw new PkiError('KEY_INVALID', `a CSR is signed with a private key, not a ${privateKey.type} key`);
  }
  const san = subjectAltNameExtension(subjectAltNamesFor(participantId, hostnames));
  const attributes = san ? [sequence([oid(EXTENSION_REQUEST_OID), set([sequence([san])])])] : [];
  const certificationRequestInfo = sequence([
    integer(0), // version v1
    encodeName(subject),
    parseDer(spkiDer(privateKey)),
    implicitConstructed(0, attributes),
  ]);
  const alg = signatureAlgorithm(keyTypeOf(privateKey), signatureHashFor(privateKey));
  return toPem('CERTIFICATE REQUEST', signStructure(certificationRequestInfo, alg, privateKey));
}

/** Decodes a PEM CSR and verifies its self-signature; PkiError CSR_INVALID with the reason otherwise. */
export function parseCsr(pem: string): ParsedCsr {
  try {
    return decodeCsr(pem);
  } catch (err) {
    if (err instanceof PkiError && err.code === 'CSR_INVALID') throw err;
    if (err instanceof MalformedDerError || err instanceof HedgerowError) {
      throw new PkiError('CSR_INVALID', `invalid certificate signing request: ${err.message}`, err);
    }
    throw err;
  }
}

function invalid(reason: string): never {
  throw new PkiError('CSR_INVALID', `invalid certificate signing request: ${reason}`);
}

function decodeCsr(pem: string): ParsedCsr {
  const blocks = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (blocks.length !== 1) invalid(`expected one PEM "-----BEGIN CERTIFICATE REQUEST-----" block, found ${blocks.length}`);
  const [info, algorithm, signature] = sequenceChildren(parseDer(blocks[0]!.der), 'CertificationRequest');
  const [version, subject, subjectPublicKeyInfo, attributes] = sequenceChildren(info, 'CertificationRequestInfo');
  if (smallIntegerOf(version, 'version') !== 0) invalid('unsupported version');

  let publicKey: KeyObject;
  try {
    const spki = toDer(expectUniversal(subjectPublicKeyInfo, Asn1Type.SEQUENCE, 'subjectPKInfo'));
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    invalid(`the public key cannot be read (${(err as Error).message})`);
  }
  const keyType = keyTypeOf(publicKey);
  const alg = signatureAlgorithmOf(algorithm, 'signatureAlgorithm');
  if (!alg || alg.keyType !== keyType) invalid('unsupported signature algorithm (expected ECDSA or RSA PKCS#1 v1.5 with SHA-2)');
  // The signature covers the DER of CertificationRequestInfo; re-encoding a DER parse gives the same bytes.
  if (!verify(alg.hash, toDer(info!), publicKey, bitStringOf(signature, 'signature').bytes)) {
    invalid('the signature does not verify with the public key it contains');
  }

  const fields = distinguishedNameFields(decodeName(subject!));
  if (!fields.commonName) invalid('the subject has no common name (CN)');
  const san = subjectAltNamesOf(attributes);
  return {
    subject: { ...fields, commonName: fields.commonName },
    publicKey,
    participantId: san?.uris[0] ?? null,
    hostnames: san ? [...san.dnsNames, ...san.ipAddresses] : [],
  };
}

/** The SAN from the extensionRequest attribute, if any. */
function subjectAltNamesOf(attributes: Asn1 | undefined): SubjectAltNames | null {
  if (attributes === undefined) return null; // required by RFC 2986, but harmless when absent
  if (!isContext(attributes, 0)) invalid('the attributes field is malformed');
  for (const attribute of childrenOf(attributes, 'attributes')) {
    const [type, values] = sequenceChildren(attribute, 'Attribute');
    if (oidOf(type, 'attribute type') !== EXTENSION_REQUEST_OID) continue;
    const [extensions] = childrenOf(expectUniversal(values, Asn1Type.SET, 'extensionRequest values'), 'extensionRequest values');
    const san = decodeExtensions(extensions!).get(EXTENSION_OIDS.subjectAltName);
    return san ? readSubjectAltName(san) : null;
  }
  return null;
}
