/** Whole-representation digest headers: RFC 9530 `Repr-Digest`, hedgerow's `X-Hedgerow-Sha256`, and the strong ETag. */

/** `Repr-Digest` value for a hex SHA-256: `sha-256=:<base64>:`. */
export function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, 'hex').toString('base64')}:`;
}

/** The hex SHA-256 from a `Repr-Digest` header (other algorithms ignored), or null. */
export function parseReprDigest(header: string | undefined | null): string | null {
  if (!header) return null;
  const m = /(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/]+={0,2}):/i.exec(header);
  if (!m) return null;
  const buf = Buffer.from(m[1]!, 'base64');
  return buf.length === 32 ? buf.toString('hex') : null;
}

/** The hex SHA-256 a response announces for the whole representation (`X-Hedgerow-Sha256`, else `Repr-Digest`), or null. */
export function announcedSha256(get: (name: string) => string | undefined): string | null {
  const x = get('x-hedgerow-sha256')?.trim();
  if (x && /^[0-9a-f]{64}$/i.test(x)) return x.toLowerCase();
  return parseReprDigest(get('repr-digest'));
}

/** Strong ETag of a representation with this digest: the digest itself, quoted. */
export function etagFor(sha256Hex: string): string {
  return `"${sha256Hex}"`;
}
