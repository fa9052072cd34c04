/**
 * X.509 v3 extensions hedgerow writes and reads (RFC 5280 4.2), plus validation of subject alternative names.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ValidationError } from '../errors';
import {
  Asn1Class,
  Asn1Type,
  bitString,
  bitStringOf,
  boolean,
  booleanOf,
  bytesOf,
  implicitPrimitive,
  integer,
  isContext,
  MalformedDerError,
  octetString,
  octetStringBytes,
  oid,
  oidOf,
  parseDer,
  sequence,
  sequenceChildren,
  smallIntegerOf,
  toDer,
  type Asn1,
} from './asn1';

export const EXTENSION_OIDS = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** Extensions whose semantics are processed here; any other critical extension makes a certificate unusable. */
export const UNDERSTOOD_EXTENSIONS: ReadonlySet<string> = new Set(Object.values(EXTENSION_OIDS));

export interface Extension {
  oid: string;
  critical: boolean;
  /** DER of the extension value (the content of extnValue). */
  value: Buffer;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function encodeExtension(extensionOid: string, critical: boolean, value: Asn1): Asn1 {
  const fields = [oid(extensionOid)];
  if (critical) fields.push(boolean(true)); // DER omits a DEFAULT value
  fields.push(octetString(toDer(value)));
  return sequence(fields);
}

export function decodeExtensions(extensions: Asn1): Map<string, Extension> {
  const decoded = new Map<string, Extension>();
  for (const node of sequenceChildren(extensions, 'Extensions')) {
    const fields = sequenceChildren(node, 'Extension');
    const extensionOid = oidOf(fields[0], 'extnID');
    const critical = fields.length === 3 ? booleanOf(fields[1], 'critical') : false;
    const value = octetStringBytes(fields[fields.length - 1], `extension ${extensionOid} value`);
    if (decoded.has(extensionOid)) throw new MalformedDerError(`extension ${extensionOid} appears twice`); // RFC 5280 4.2
    decoded.set(extensionOid, { oid: extensionOid, critical, value });
  }
  return decoded;
}

// ---------------------------------------------------------------------------------------------------------------
// basicConstraints

export interface BasicConstraints {
  isCa: boolean;
  /** Maximum number of intermediate CA certificates below this one; null if unlimited. */
  pathLength: number | null;
}

export function basicConstraintsExtension(isCa: boolean, pathLength?: number): Asn1 {
  const fields: Asn1[] = [];
  if (isCa) fields.push(boolean(true));
  if (isCa && pathLength !== undefined) fields.push(integer(pathLength));
  return encodeExtension(EXTENSION_OIDS.basicConstraints, isCa, sequence(fields));
}

export function readBasicConstraints(ext: Extension): BasicConstraints {
  const fields = sequenceChildren(parseDer(ext.value), 'BasicConstraints');
  let index = 0;
  let isCa = false;
  if (fields[index]?.type === Asn1Type.BOOLEAN) isCa = booleanOf(fields[index++], 'cA');
  const pathLength = fields[index] ? smallIntegerOf(fields[index], 'pathLenConstraint') : null;
  return { isCa, pathLength };
}

// ---------------------------------------------------------------------------------------------------------------
// keyUsage: a named BIT STRING, bit 0 first.

const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export function keyUsageExtension(usages: KeyUsage[]): Asn1 {
  const bits = usages.map((usage) => KEY_USAGES.indexOf(usage));
  const highestBit = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highestBit / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  // DER: trailing zero bits are dropped and counted as unused (X.690 11.2.2).
  const unusedBits = bytes.length * 8 - 1 - highestBit;
  return encodeExtension(EXTENSION_OIDS.keyUsage, true, bitString(bytes, unusedBits));
}

export function readKeyUsage(ext: Extension): KeyUsage[] {
  const { bytes } = bitStringOf(parseDer(ext.value), 'KeyUsage');
  return KEY_USAGES.filter((_, bit) => bit < bytes.length * 8 && (bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0);
}

// ---------------------------------------------------------------------------------------------------------------
// extKeyUsage

const EXTENDED_KEY_USAGES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

export function extendedKeyUsageExtension(usages: Array<'serverAuth' | 'clientAuth'>): Asn1 {
  const oids = usages.map((name) => Object.keys(EXTENDED_KEY_USAGES).find((key) => EXTENDED_KEY_USAGES[key] === name)!);
  return encodeExtension(EXTENSION_OIDS.extKeyUsage, false, sequence(oids.map(oid)));
}

/** Usage names (serverAuth, clientAuth, ...); usages without a name are given as dotted OIDs. */
export function readExtendedKeyUsage(ext: Extension): string[] {
  return sequenceChildren(parseDer(ext.value), 'ExtKeyUsageSyntax').map((node) => {
    const usageOid = oidOf(node, 'KeyPurposeId');
    return EXTENDED_KEY_USAGES[usageOid] ?? usageOid;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Key identifiers

export function subjectKeyIdentifierExtension(keyIdentifier: Buffer): Asn1 {
  return encodeExtension(EXTENSION_OIDS.subjectKeyIdentifier, false, octetString(keyIdentifier));
}

export function readSubjectKeyIdentifier(ext: Extension): Buffer {
  return octetStringBytes(parseDer(ext.value), 'SubjectKeyIdentifier');
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... } */
export function authorityKeyIdentifierExtension(keyIdentifier: Buffer): Asn1 {
  return encodeExtension(EXTENSION_OIDS.authorityKeyIdentifier, false, sequence([implicitPrimitive(0, keyIdentifier)]));
}

/** The keyIdentifier of an AuthorityKeyIdentifier, or null if it only names the issuer by name and serial. */
export function readAuthorityKeyIdentifier(ext: Extension): Buffer | null {
  const keyIdentifier = sequenceChildren(parseDer(ext.value), 'AuthorityKeyIdentifier').find((node) => isContext(node, 0));
  return keyIdentifier ? bytesOf(keyIdentifier, 'keyIdentifier') : null;
}

// ---------------------------------------------------------------------------------------------------------------
// subjectAltName

export interface SubjectAltNames {
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
}

const GENERAL_NAME = { dNSName: 2, uniformResourceIdentifier: 6, iPAddress: 7 } as const;

/** The SAN extension, or null when there is no name to put in it (an empty SAN is not allowed). */
export function subjectAltNameExtension(names: SubjectAltNames): Asn1 | null {
  const generalNames = [
    ...names.uris.map((uri) => implicitPrimitive(GENERAL_NAME.uniformResourceIdentifier, Buffer.from(uri, 'ascii'))),
    ...names.dnsNames.map((dns) => implicitPrimitive(GENERAL_NAME.dNSName, Buffer.from(dns, 'ascii'))),
    ...names.ipAddresses.map((ip) => implicitPrimitive(GENERAL_NAME.iPAddress, ipToBytes(ip))),
  ];
  return generalNames.length ? encodeExtension(EXTENSION_OIDS.subjectAltName, false, sequence(generalNames)) : null;
}

/** URIs, DNS names and IP addresses of a SAN; other name forms (email, directory names, ...) are ignored. */
export function readSubjectAltName(ext: Extension): SubjectAltNames {
  const names: SubjectAltNames = { uris: [], dnsNames: [], ipAddresses: [] };
  for (const node of sequenceChildren(parseDer(ext.value), 'GeneralNames')) {
    if (node.tagClass !== Asn1Class.CONTEXT_SPECIFIC) continue;
    if (node.type === GENERAL_NAME.uniformResourceIdentifier) names.uris.push(bytesOf(node, 'URI').toString('latin1'));
    else if (node.type === GENERAL_NAME.dNSName) names.dnsNames.push(bytesOf(node, 'dNSName').toString('latin1'));
    else if (node.type === GENERAL_NAME.iPAddress) names.ipAddresses.push(bytesToIp(bytesOf(node, 'iPAddress')));
  }
  return names;
}

/**
 * Validates and sorts the names a connector certificate (or CSR) is for: the participant id becomes the URI, each
 * hostname a DNS name or, for IP literals, an IP address. Throws ValidationError naming the bad value.
 */
export function subjectAltNamesFor(participantId: string | undefined, hostnames: readonly string[] = []): SubjectAltNames {
  const names: SubjectAltNames = { uris: [], dnsNames: [], ipAddresses: [] };
  if (participantId !== undefined) {
    if (!isAbsoluteUri(participantId)) {
      throw new ValidationError(`"${participantId}" is not an absolute URI (e.g. did:web:example.com)`, '/participantId');
    }
    names.uris.push(participantId);
  }
  hostnames.forEach((hostname, i) => {
    const literal = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    if (isIPv4(literal) || (isIPv6(literal) && !literal.includes('%'))) names.ipAddresses.push(bytesToIp(ipToBytes(literal)));
    else if (isDnsName(hostname)) names.dnsNames.push(hostname.toLowerCase());
    else throw new ValidationError(`"${hostname}" is not a valid DNS name or IP address`, `/hostnames/${i}`);
  });
  return names;
}

/** Absolute URI (RFC 3986 4.3: scheme ":" ...) of printable ASCII, as an IA5String SAN requires. */
function isAbsoluteUri(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(value) && !value.includes('#') && URL.canParse(value);
}

/**
 * A DNS name of LDH labels (RFC 1123), at most 253 characters, optionally with a wildcard leftmost label.
 * Internationalised names must be given in their A-label (xn--) form. An all-numeric last label is refused: no
 * top-level domain is numeric, so "256.1.1.1" is a mistyped IP address, not a name (RFC 3696 2).
 */
function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  const labels = value.split('.');
  if (/^\d+$/.test(labels[labels.length - 1]!)) return false;
  return labels.every(
    (label, i) => (i === 0 && label === '*' && labels.length > 2) || /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// IP addresses in SANs: 4 or 16 octets in network order.

function ipToBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // Expand "a::b" and a trailing dotted quad (::ffff:192.0.2.1) into eight 16-bit groups.
  let text = ip;
  const dottedQuad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dottedQuad) {
    const [a, b, c, d] = dottedQuad[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dottedQuad[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const bytes = Buffer.alloc(16);
  [...headGroups, ...zeros, ...tailGroups].forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/** Dotted quad, or RFC 5952 canonical IPv6 text (lower case, longest run of zero groups as "::"). */
function bytesToIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) return bytes.toString('hex'); // not an address (name constraints use 8/32 bytes)
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not abbreviated
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
