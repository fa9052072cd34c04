/**
 * DER plumbing on top of forge.asn1: small builders and strict readers, PEM armour, signature algorithm
 * identifiers and the "sign a to-be-signed structure" step shared by certificates and CSRs. No cryptography is
 * implemented here: signing and hashing are node:crypto.
 */
import { sign, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';

// Only forge's ASN.1 layer (and the util/oids it needs): the whole library costs ~10 MB of resident
// memory and ~15 ms of start-up on an edge box, and nothing on the start-up path needs the rest.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('node-forge/lib/asn1');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const forge = require('node-forge/lib/forge') as typeof Forge;
import type { HashName, KeyType } from './keys';

export type Asn1 = Forge.asn1.Asn1;
const { Class, Type } = forge.asn1;
export { Class as Asn1Class, Type as Asn1Type };

/** Thrown by the readers below; each caller turns it into the PkiError code of its own input (certificate, CSR, ...). */
export class MalformedDerError extends Error {}

function malformed(what: string): never {
  throw new MalformedDerError(`malformed DER: ${what}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Conversions between node Buffers and forge's binary strings.

export function toDer(node: Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}

type FromDerOptions = { strict?: boolean; parseAllBytes?: boolean; decodeBitStrings?: boolean };
const fromDerWithOptions = forge.asn1.fromDer as unknown as (bytes: string, options: FromDerOptions) => Asn1;

/**
 * Parse one complete DER (or BER: PKCS#12 files from other tools) value. BIT STRINGs are kept as bytes: forge would
 * otherwise guess whether their content is ASN.1, which makes re-encoding (e.g. of a SubjectPublicKeyInfo) fragile.
 */
export function parseDer(der: Buffer, { strict = true }: { strict?: boolean } = {}): Asn1 {
  try {
    return fromDerWithOptions(der.toString('binary'), { strict, parseAllBytes: true, decodeBitStrings: false });
  } catch (err) {
    throw new MalformedDerError(`malformed DER: ${(err as Error).message}`);
  }
}

const binary = (buf: Buffer): string => buf.toString('binary');

// ---------------------------------------------------------------------------------------------------------------
// Builders.

export const sequence = (children: Asn1[]): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, children);
export const set = (children: Asn1[]): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.SET, true, children);
export const oid = (dotted: string): Asn1 =>
  forge.asn1.create(Class.UNIVERSAL, Type.OID, false, forge.asn1.oidToDer(dotted).getBytes());
export const nullValue = (): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.NULL, false, '');
export const boolean = (value: boolean): Asn1 =>
  forge.asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, value ? '\xff' : '\x00');
export const octetString = (bytes: Buffer): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, binary(bytes));
/** BIT STRING; signatures and keys are whole bytes (no unused bits), named bit lists drop trailing zero bits. */
export const bitString = (bytes: Buffer, unusedBits = 0): Asn1 =>
  forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unusedBits) + binary(bytes));
export const utf8String = (text: string): Asn1 =>
  forge.asn1.create(Class.UNIVERSAL, Type.UTF8, false, forge.util.encodeUtf8(text));
export const printableString = (text: string): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.PRINTABLESTRING, false, text);
export const bmpString = (text: string): Asn1 => forge.asn1.create(Class.UNIVERSAL, Type.BMPSTRING, false, text);

/** INTEGER from a small non-negative JS number. */
export const integer = (value: number): Asn1 =>
  forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, forge.asn1.integerToDer(value).getBytes());

/** INTEGER from big-endian unsigned bytes (serial numbers): a leading zero keeps it positive. */
export function unsignedInteger(bytes: Buffer): Asn1 {
  const padded = bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, binary(padded));
}

/** X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). Sub-second precision is dropped. */
export function time(date: Date): Asn1 {
  return date.getUTCFullYear() < 2050
    ? forge.asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, forge.asn1.dateToUtcTime(date))
    : forge.asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, forge.asn1.dateToGeneralizedTime(date));
}

/** [tag] EXPLICIT: a constructed context-specific wrapper around one value. */
export const explicit = (tag: number, child: Asn1): Asn1 => forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, true, [child]);
/** [tag] IMPLICIT on a primitive type (e.g. GeneralName dNSName [2], keyIdentifier [0]). */
export const implicitPrimitive = (tag: number, bytes: Buffer): Asn1 =>
  forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, false, binary(bytes));
/** [tag] IMPLICIT on a SET/SEQUENCE (e.g. the CSR attributes [0]). */
export const implicitConstructed = (tag: number, children: Asn1[]): Asn1 =>
  forge.asn1.create(Class.CONTEXT_SPECIFIC, tag, true, children);

// ---------------------------------------------------------------------------------------------------------------
// Readers. Each checks the tag it expects, so that malformed input fails here with a message instead of later with
// a TypeError.

function describeTag(node: Asn1): string {
  return node.tagClass === Class.UNIVERSAL ? `universal type ${node.type}` : `tag class ${node.tagClass} number ${node.type}`;
}

export function expectUniversal(node: Asn1 | undefined, type: Forge.asn1.Type, what: string): Asn1 {
  if (!node) malformed(`${what} is missing`);
  if (node.tagClass !== Class.UNIVERSAL || node.type !== type) malformed(`${what}: unexpected ${describeTag(node)}`);
  return node;
}

export function isContext(node: Asn1 | undefined, tag: number): node is Asn1 {
  return node !== undefined && node.tagClass === Class.CONTEXT_SPECIFIC && node.type === tag;
}

export function childrenOf(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node) malformed(`${what} is missing`);
  if (!Array.isArray(node.value)) malformed(`${what} is not constructed`);
  return node.value;
}

export function sequenceChildren(node: Asn1 | undefined, what: string): Asn1[] {
  return childrenOf(expectUniversal(node, Type.SEQUENCE, what), what);
}

/** The content bytes of a primitive value; a BER constructed OCTET STRING is flattened (PKCS#12 from other tools). */
export function bytesOf(node: Asn1 | undefined, what: string): Buffer {
  if (!node) malformed(`${what} is missing`);
  if (Array.isArray(node.value)) return Buffer.concat(node.value.map((chunk) => bytesOf(chunk, what)));
  return Buffer.from(node.value, 'binary');
}

export function octetStringBytes(node: Asn1 | undefined, what: string): Buffer {
  return bytesOf(expectUniversal(node, Type.OCTETSTRING, what), what);
}

export function oidOf(node: Asn1 | undefined, what: string): string {
  return forge.asn1.derToOid(binary(bytesOf(expectUniversal(node, Type.OID, what), what)));
}

export function booleanOf(node: Asn1 | undefined, what: string): boolean {
  const bytes = bytesOf(expectUniversal(node, Type.BOOLEAN, what), what);
  if (bytes.length !== 1) malformed(`${what}: BOOLEAN of ${bytes.length} bytes`);
  return bytes[0] !== 0;
}

/** A non-negative INTEGER that fits a JS number (versions, path lengths, iteration counts). */
export function smallIntegerOf(node: Asn1 | undefined, what: string): number {
  const bytes = bytesOf(expectUniversal(node, Type.INTEGER, what), what);
  if (bytes.length === 0 || bytes[0]! & 0x80 || bytes.length > 6) malformed(`${what}: unsupported INTEGER`);
  return bytes.readUIntBE(0, bytes.length);
}

/** BIT STRING content: the unused-bits count and the bytes that follow it. */
export function bitStringOf(node: Asn1 | undefined, what: string): { unusedBits: number; bytes: Buffer } {
  const raw = bytesOf(expectUniversal(node, Type.BITSTRING, what), what);
  if (raw.length === 0 || raw[0]! > 7) malformed(`${what}: bad BIT STRING`);
  return { unusedBits: raw[0]!, bytes: raw.subarray(1) };
}

export function timeOf(node: Asn1 | undefined, what: string): Date {
  if (!node || node.tagClass !== Class.UNIVERSAL) malformed(`${what} is missing`);
  const text = bytesOf(node, what).toString('latin1');
  let date: Date;
  if (node.type === Type.UTCTIME && /^\d{12}Z$/.test(text)) date = forge.asn1.utcTimeToDate(text);
  else if (node.type === Type.GENERALIZEDTIME && /^\d{14}Z$/.test(text)) date = forge.asn1.generalizedTimeToDate(text);
  else malformed(`${what}: not a UTCTime or GeneralizedTime in Zulu time`);
  if (Number.isNaN(date.getTime())) malformed(`${what}: invalid date`);
  return date;
}

/** Text of any directory string type. T61String is read as Latin-1, which is what it means in practice. */
export function stringOf(node: Asn1 | undefined, what: string): string {
  if (!node || node.tagClass !== Class.UNIVERSAL) malformed(`${what} is not a string`);
  const bytes = bytesOf(node, what);
  switch (node.type as number) {
    case Type.UTF8:
      return bytes.toString('utf8');
    case Type.BMPSTRING:
      return Buffer.from(bytes).swap16().toString('utf16le');
    case Type.PRINTABLESTRING:
    case Type.IA5STRING:
    case 20 /* T61String */:
    case 26 /* VisibleString */:
      return bytes.toString('latin1');
    case 28 /* UniversalString: UCS-4 big-endian */: {
      let text = '';
      for (let i = 0; i + 4 <= bytes.length; i += 4) text += String.fromCodePoint(bytes.readUInt32BE(i));
      return text;
    }
    default:
      malformed(`${what}: unsupported string type ${node.type}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Signature algorithms.

export interface SignatureAlgorithm {
  keyType: KeyType;
  hash: HashName;
  oid: string;
}

const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  { keyType: 'ec', hash: 'sha256', oid: '1.2.840.10045.4.3.2' }, // ecdsa-with-SHA256
  { keyType: 'ec', hash: 'sha384', oid: '1.2.840.10045.4.3.3' },
  { keyType: 'ec', hash: 'sha512', oid: '1.2.840.10045.4.3.4' },
  { keyType: 'rsa', hash: 'sha256', oid: '1.2.840.113549.1.1.11' }, // sha256WithRSAEncryption (PKCS#1 v1.5)
  { keyType: 'rsa', hash: 'sha384', oid: '1.2.840.113549.1.1.12' },
  { keyType: 'rsa', hash: 'sha512', oid: '1.2.840.113549.1.1.13' },
];

export function signatureAlgorithm(keyType: KeyType, hash: HashName): SignatureAlgorithm {
  return SIGNATURE_ALGORITHMS.find((alg) => alg.keyType === keyType && alg.hash === hash)!;
}

/** The algorithm named by an AlgorithmIdentifier, or null for one this module does not produce (e.g. RSA-PSS). */
export function signatureAlgorithmOf(identifier: Asn1 | undefined, what: string): SignatureAlgorithm | null {
  const algorithmOid = oidOf(sequenceChildren(identifier, what)[0], `${what} algorithm`);
  return SIGNATURE_ALGORITHMS.find((alg) => alg.oid === algorithmOid) ?? null;
}

/** ECDSA identifiers have absent parameters, RSA ones an explicit NULL (RFC 5758 3.2, RFC 4055 5). */
export function algorithmIdentifier(alg: SignatureAlgorithm): Asn1 {
  return sequence(alg.keyType === 'ec' ? [oid(alg.oid)] : [oid(alg.oid), nullValue()]);
}

/**
 * SIGNED{ToBeSigned} as used by both X.509 certificates and PKCS#10 requests: the to-be-signed value, the
 * algorithm, and the signature over the DER of the to-be-signed value. node returns ECDSA signatures DER-encoded
 * (Ecdsa-Sig-Value), which is exactly what goes into the BIT STRING; RSA uses PKCS#1 v1.5 padding by default.
 */
export function signStructure(toBeSigned: Asn1, alg: SignatureAlgorithm, privateKey: KeyObject): Buffer {
  const signature = sign(alg.hash, toDer(toBeSigned), privateKey);
  return toDer(sequence([toBeSigned, algorithmIdentifier(alg), bitString(signature)]));
}

// ---------------------------------------------------------------------------------------------------------------
// PEM armour.

export function toPem(label: string, der: Buffer): string {
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/** Every PEM block in a text (text around the blocks, as in `openssl x509 -text` output, is ignored). */
export function pemBlocks(text: string): Array<{ label: string; der: Buffer }> {
  const blocks: Array<{ label: string; der: Buffer }> = [];
  for (const match of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    const body = match[2]!.replace(/\s+/g, '');
    // Buffer.from(…, 'base64') silently skips junk: check first so a damaged block is reported, not half-read.
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) malformed(`PEM block "${match[1]}" is not valid base64`);
    blocks.push({ label: match[1]!, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}
