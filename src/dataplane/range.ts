/**
 * HTTP `Range` for a single byte range (RFC 9110 §14).
 *
 * Decisions:
 * - Only the `bytes` unit (case-insensitive). Other units, or a header that does not parse, are ignored:
 *   the full representation is served with 200, as RFC 9110 §14.2 allows ("a server MAY ignore").
 * - **Multiple ranges are not supported and are ignored (full 200)**, never answered with
 *   `multipart/byteranges`. Resuming clients (ours, curl -C, browsers, wget) only ever send one range;
 *   ignoring the rest is permitted by the RFC, keeps clients working, and avoids the overlapping-ranges
 *   amplification (Apache CVE-2011-3192). We do not answer 416 for them because the ranges may well be
 *   satisfiable, and 416 would make a well-behaved client give up.
 * - `bytes=a-b` with b < a is invalid syntax → ignored (200). `bytes=a-` with a ≥ size, and `bytes=-0`,
 *   are unsatisfiable → 416 with `Content-Range: bytes * /size` (without the space). A last-pos beyond
 *   the end is clamped; a suffix longer than the representation selects all of it (still 206).
 * - A zero-length representation has no satisfiable int-range (416 for `bytes=0-`); a suffix range on it
 *   is served as a plain 200 with an empty body (there is no way to express an empty Content-Range).
 */

export type RangeResult =
  /** No usable Range: serve the whole representation with 200. `ignored` says why, when a header was present. */
  | { type: 'full'; ignored?: 'syntax' | 'unit' | 'multiple' | 'empty-representation' }
  /** Serve bytes `start`..`end` inclusive with 206. */
  | { type: 'partial'; start: number; end: number }
  /** Answer 416 with `Content-Range: bytes *\/size`. */
  | { type: 'unsatisfiable' };

const DIGITS = /^[0-9]+$/;

function toInt(digits: string): number {
  // Very long digit strings are larger than any file: Infinity compares correctly below.
  const n = digits.length > 15 ? Number(BigInt(digits)) : Number(digits);
  return Number.isSafeInteger(n) ? n : Infinity;
}

/** Parse a `Range` header for a representation of `size` bytes. */
export function parseRange(header: string | undefined | null, size: number): RangeResult {
  if (header === undefined || header === null) return { type: 'full' };
  const eq = header.indexOf('=');
  if (eq < 0) return { type: 'full', ignored: 'syntax' };
  const unit = header.slice(0, eq).trim();
  if (unit.toLowerCase() !== 'bytes') return { type: 'full', ignored: unit ? 'unit' : 'syntax' };
  // range-set = 1#range-spec: list elements separated by commas with optional whitespace; empty elements allowed by #rule.
  const specs = header
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length === 0) return { type: 'full', ignored: 'syntax' };
  const parsed: Array<{ first?: number; last?: number; suffix?: number }> = [];
  for (const spec of specs) {
    const dash = spec.indexOf('-');
    if (dash < 0) return { type: 'full', ignored: 'syntax' };
    const a = spec.slice(0, dash);
    const b = spec.slice(dash + 1);
    if (a === '') {
      if (!DIGITS.test(b)) return { type: 'full', ignored: 'syntax' };
      parsed.push({ suffix: toInt(b) });
    } else {
      if (!DIGITS.test(a) || (b !== '' && !DIGITS.test(b))) return { type: 'full', ignored: 'syntax' };
      const first = toInt(a);
      const last = b === '' ? undefined : toInt(b);
      if (last !== undefined && last < first) return { type: 'full', ignored: 'syntax' };
      parsed.push(last === undefined ? { first } : { first, last });
    }
  }
  if (parsed.length > 1) return { type: 'full', ignored: 'multiple' };
  const r = parsed[0]!;
  if (r.suffix !== undefined) {
    if (r.suffix === 0) return { type: 'unsatisfiable' };
    if (size === 0) return { type: 'full', ignored: 'empty-representation' };
    const len = Math.min(r.suffix, size);
    return { type: 'partial', start: size - len, end: size - 1 };
  }
  const first = r.first!;
  if (first >= size) return { type: 'unsatisfiable' };
  const end = r.last === undefined ? size - 1 : Math.min(r.last, size - 1);
  return { type: 'partial', start: first, end };
}

/** `Content-Range` value for a 206. */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/** `Content-Range` value for a 416. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/**
 * Parse a `Content-Range` response header (`bytes a-b/size`, `bytes a-b/*`, `bytes *\/size`).
 * Returns null when it does not parse.
 */
export function parseContentRange(
  header: string | undefined | null,
): { start: number; end: number; size: number | null } | { unsatisfied: true; size: number } | null {
  if (!header) return null;
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|(\*))\/(\d+|\*)\s*$/i.exec(header);
  if (!m) return null;
  const size = m[4] === '*' ? null : toInt(m[4]!);
  if (m[3]) return size === null || !Number.isFinite(size) ? null : { unsatisfied: true, size };
  const start = toInt(m[1]!);
  const end = toInt(m[2]!);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return null;
  if (size !== null && (!Number.isFinite(size) || end >= size)) return null;
  return { start, end, size };
}
