/**
 * What may go into an audit entry: plain JSON, bounded in size, without secrets. Keys that look like secrets are
 * redacted as src/log/logger.ts does; values that look like bearer tokens, JWS/JWTs or PEM private keys are
 * redacted wherever they appear, because an audit entry is kept for years and exported to third parties.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const SECRET_KEY = /(pass(word|phrase)?|secret|private|token|authorization|api[-_]?key|cookie|pem|p12|pfx)/i;
const SECRET_VALUE = [
  /^\s*bearer\s+\S+/i, // an Authorization value
  /eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*/, // a compact JWS / JWT
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\bhr_[A-Za-z0-9_-]{16,}/, // a management API key
];
export const REDACTED = '[redacted]';

const MAX_DEPTH = 8;
const MAX_STRING = 4000;
const MAX_ARRAY = 100;
const MAX_KEYS = 100;

function sanitizeString(s: string): string {
  if (SECRET_VALUE.some((re) => re.test(s))) return REDACTED;
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…[${s.length - MAX_STRING} more characters]` : s;
}

/**
 * A JSON-safe, secret-free copy: undefined members are dropped, Dates become ISO strings, errors their name, message
 * and code, non-finite numbers null, BigInts strings; long strings, arrays and deep nesting are cut.
 */
export function auditSafe(value: unknown, depth = 0): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return sanitizeString(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return null; // functions, symbols
  }
  if (depth >= MAX_DEPTH) return '[depth]';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return auditSafe({ name: value.name, message: value.message, ...(code !== undefined ? { code } : {}) }, depth + 1);
  }
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ARRAY).map((v) => auditSafe(v, depth + 1));
    if (value.length > MAX_ARRAY) items.push(`[${value.length - MAX_ARRAY} more items]`);
    return items;
  }
  const out: { [key: string]: JsonValue } = {};
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
  for (const [k, v] of entries.slice(0, MAX_KEYS)) out[k] = SECRET_KEY.test(k) ? REDACTED : auditSafe(v, depth + 1);
  if (entries.length > MAX_KEYS) out['…'] = `${entries.length - MAX_KEYS} more members`;
  return out;
}
