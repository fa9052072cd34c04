/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): object members sorted by their UTF-16 code units, no whitespace,
 * ECMAScript number and string serialisation. The audit trail hashes and signs these bytes, so a verifier in any
 * language with a JCS implementation recomputes exactly the same hashes.
 */
import crypto from 'node:crypto';

/* eslint-disable @typescript-eslint/no-require-imports */
// `canonicalize` (v2) is CommonJS: `module.exports = function serialize (value)`.
const serialize = require('canonicalize') as (value: unknown) => string | undefined;

/** The JCS form of a JSON value. Throws on values JSON cannot carry (undefined at the top, NaN, Infinity, BigInt). */
export function canonicalJson(value: unknown): string {
  const out = serialize(value);
  if (out === undefined) throw new TypeError('canonical JSON: the value has no JSON representation');
  return out;
}

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}
