/**
 * X.501 distinguished names: the small subset hedgerow writes (C, L, O, OU, CN) and a tolerant reader for what
 * other CAs write.
 */
import { ValidationError } from '../errors';
import {
  Asn1Type,
  childrenOf,
  expectUniversal,
  oid,
  oidOf,
  printableString,
  sequence,
  sequenceChildren,
  set,
  stringOf,
  utf8String,
  type Asn1,
} from './asn1';

export interface DistinguishedName {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
  locality?: string;
}

export interface NameAttribute {
  oid: string;
  /** RFC 4514 short name (CN, O, ...) or the dotted OID for types without one. */
  shortName: string;
  value: string;
}

/** Attributes hedgerow writes, in the order they are encoded (most general first, as CAs conventionally do). */
const WRITTEN_ATTRIBUTES = [
  { field: 'country', oid: '2.5.4.6', shortName: 'C', maxLength: 2 },
  { field: 'locality', oid: '2.5.4.7', shortName: 'L', maxLength: 128 },
  { field: 'organization', oid: '2.5.4.10', shortName: 'O', maxLength: 64 },
  { field: 'organizationalUnit', oid: '2.5.4.11', shortName: 'OU', maxLength: 64 },
  { field: 'commonName', oid: '2.5.4.3', shortName: 'CN', maxLength: 64 }, // upper bounds: RFC 5280 appendix A.1
] as const satisfies ReadonlyArray<{ field: keyof DistinguishedName; oid: string; shortName: string; maxLength: number }>;

const OTHER_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.5': 'serialNumber',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

function shortNameOf(attributeOid: string): string {
  return WRITTEN_ATTRIBUTES.find((a) => a.oid === attributeOid)?.shortName ?? OTHER_SHORT_NAMES[attributeOid] ?? attributeOid;
}

/** Rejects names that would produce an invalid or surprising certificate; `path` prefixes the field in the error. */
function validateDistinguishedName(dn: DistinguishedName, path = '/subject'): void {
  for (const { field, maxLength } of WRITTEN_ATTRIBUTES) {
    const value = dn[field];
    if (value === undefined) {
      if (field === 'commonName') throw new ValidationError('a common name is required', `${path}/commonName`);
      continue;
    }
    if (typeof value !== 'string' || value.trim() === '') throw new ValidationError('must be a non-empty string', `${path}/${field}`);
    if (value !== value.trim()) throw new ValidationError('must not start or end with white space', `${path}/${field}`);
    if ([...value].length > maxLength) throw new ValidationError(`must be at most ${maxLength} characters`, `${path}/${field}`);
    if (/\p{Cc}/u.test(value)) throw new ValidationError('must not contain control characters', `${path}/${field}`);
  }
  if (dn.country !== undefined && !/^[A-Z]{2}$/.test(dn.country)) {
    throw new ValidationError('must be a two-letter ISO 3166 country code in upper case, e.g. "DE"', `${path}/country`);
  }
}

/** Name ::= SEQUENCE OF RDN, one attribute per RDN; C is a PrintableString (RFC 5280 A.1), the rest UTF8String. */
export function encodeName(dn: DistinguishedName): Asn1 {
  validateDistinguishedName(dn);
  const rdns: Asn1[] = [];
  for (const { field, oid: attributeOid } of WRITTEN_ATTRIBUTES) {
    const value = dn[field];
    if (value === undefined) continue;
    const encoded = field === 'country' ? printableString(value) : utf8String(value);
    rdns.push(set([sequence([oid(attributeOid), encoded])]));
  }
  return sequence(rdns);
}

/** All attributes of a Name in encoded order; multi-valued RDNs are flattened. */
export function decodeName(name: Asn1): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  for (const rdn of sequenceChildren(name, 'Name')) {
    for (const pair of childrenOf(expectUniversal(rdn, Asn1Type.SET, 'RelativeDistinguishedName'), 'RelativeDistinguishedName')) {
      const [type, value] = sequenceChildren(pair, 'AttributeTypeAndValue');
      const attributeOid = oidOf(type, 'attribute type');
      const shortName = shortNameOf(attributeOid);
      attributes.push({ oid: attributeOid, shortName, value: stringOf(value, `${shortName} value`) });
    }
  }
  return attributes;
}

/** The DistinguishedName fields present in a decoded name (first value of each type). */
export function distinguishedNameFields(attributes: NameAttribute[]): Partial<DistinguishedName> {
  const fields: Partial<DistinguishedName> = {};
  for (const { field, oid: attributeOid } of WRITTEN_ATTRIBUTES) {
    const found = attributes.find((a) => a.oid === attributeOid);
    if (found) fields[field] = found.value;
  }
  return fields;
}

function escapeRfc4514(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, '\\$&')
    .replace(/^[ #]/, '\\$&')
    .replace(/ $/, '\\ ');
}

/** RFC 4514 string, most specific attribute first: "CN=node-1, O=Example, C=DE". */
export function formatName(attributes: NameAttribute[]): string {
  return [...attributes]
    .reverse()
    .map((a) => `${a.shortName}=${escapeRfc4514(a.value)}`)
    .join(', ');
}

/** Normalisation for name chaining: case and inner white space do not matter (a practical subset of RFC 4518). */
const normalised = (value: string): string => value.trim().replace(/\s+/g, ' ').toLowerCase();

/** True if two names are the same for certification path building (RFC 5280 7.1). */
export function namesMatch(a: NameAttribute[], b: NameAttribute[]): boolean {
  return a.length === b.length && a.every((attr, i) => attr.oid === b[i]!.oid && normalised(attr.value) === normalised(b[i]!.value));
}
