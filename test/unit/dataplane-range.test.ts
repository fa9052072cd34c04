import { contentRange, parseContentRange, parseRange, unsatisfiedRange } from '../../src/dataplane/range';
import { ifRangeMatches } from '../../src/dataplane/serve';
import { announcedSha256, parseReprDigest, reprDigest } from '../../src/dataplane/digest-headers';

describe('parseRange (RFC 9110 single byte range)', () => {
  const size = 1000;
  it.each([
    ['bytes=0-499', { type: 'partial', start: 0, end: 499 }],
    ['bytes=500-999', { type: 'partial', start: 500, end: 999 }],
    ['bytes=500-', { type: 'partial', start: 500, end: 999 }],
    ['bytes=-200', { type: 'partial', start: 800, end: 999 }],
    ['bytes=999-999', { type: 'partial', start: 999, end: 999 }],
    ['bytes=0-0', { type: 'partial', start: 0, end: 0 }],
    ['bytes=900-5000', { type: 'partial', start: 900, end: 999 }], // last-pos clamped
    ['bytes=-5000', { type: 'partial', start: 0, end: 999 }], // suffix longer than the representation: all of it
    ['BYTES=10-20', { type: 'partial', start: 10, end: 20 }], // unit is case-insensitive
    ['bytes = 10-20', { type: 'partial', start: 10, end: 20 }],
    ['bytes=10-20, ', { type: 'partial', start: 10, end: 20 }], // empty list elements are allowed by #rule
    ['bytes=0-99999999999999999999999', { type: 'partial', start: 0, end: 999 }],
  ])('%s → %j', (header, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each([
    ['bytes=1000-'],
    ['bytes=1000-2000'],
    ['bytes=-0'],
    ['bytes=99999999999999999999999-'],
  ])('%s is unsatisfiable (416)', (header) => {
    expect(parseRange(header, size)).toEqual({ type: 'unsatisfiable' });
  });

  it.each([
    ['bytes=500-100', 'syntax'],
    ['bytes=abc', 'syntax'],
    ['bytes=1-2-3', 'syntax'],
    ['bytes=', 'syntax'],
    ['bytes=-', 'syntax'],
    ['bytes=+1-2', 'syntax'],
    ['bytes=1.5-2', 'syntax'],
    ['bytes 0-10', 'syntax'],
    ['items=0-10', 'unit'],
    ['=0-10', 'syntax'],
  ])('%s is ignored (200 full, %s)', (header, why) => {
    expect(parseRange(header, size)).toEqual({ type: 'full', ignored: why });
  });

  it('ignores multiple ranges (documented decision: 200 full, never multipart or 416)', () => {
    expect(parseRange('bytes=0-10,20-30', size)).toEqual({ type: 'full', ignored: 'multiple' });
    expect(parseRange('bytes=0-10, -5', size)).toEqual({ type: 'full', ignored: 'multiple' });
    expect(parseRange('bytes=0-,0-,0-,0-', size)).toEqual({ type: 'full', ignored: 'multiple' });
    // Even when all of them would be unsatisfiable: the client gets the whole representation.
    expect(parseRange('bytes=2000-,3000-', size)).toEqual({ type: 'full', ignored: 'multiple' });
  });

  it('no header → full', () => {
    expect(parseRange(undefined, size)).toEqual({ type: 'full' });
    expect(parseRange(null, size)).toEqual({ type: 'full' });
  });

  it('zero-length representation', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ type: 'unsatisfiable' });
    expect(parseRange('bytes=-10', 0)).toEqual({ type: 'full', ignored: 'empty-representation' });
  });

  it('formats and parses Content-Range', () => {
    expect(contentRange(0, 499, 1000)).toBe('bytes 0-499/1000');
    expect(unsatisfiedRange(1000)).toBe('bytes */1000');
    expect(parseContentRange('bytes 0-499/1000')).toEqual({ start: 0, end: 499, size: 1000 });
    expect(parseContentRange('bytes 0-499/*')).toEqual({ start: 0, end: 499, size: null });
    expect(parseContentRange('bytes */1000')).toEqual({ unsatisfied: true, size: 1000 });
    expect(parseContentRange('bytes 500-499/1000')).toBeNull();
    expect(parseContentRange('bytes 0-1000/1000')).toBeNull();
    expect(parseContentRange('items 0-1/2')).toBeNull();
    expect(parseContentRange(undefined)).toBeNull();
  });
});

describe('If-Range (RFC 9110 §13.1.5)', () => {
  const etag = '"abc"';
  const lastModified = new Date('2026-01-01T00:00:00Z');
  it('applies the range only on a strong ETag match', () => {
    expect(ifRangeMatches(undefined, { etag, lastModified })).toBe(true);
    expect(ifRangeMatches('"abc"', { etag, lastModified })).toBe(true);
    expect(ifRangeMatches('"abd"', { etag, lastModified })).toBe(false);
    expect(ifRangeMatches('W/"abc"', { etag, lastModified })).toBe(false);
    expect(ifRangeMatches('"abc"', { etag: 'W/"abc"', lastModified })).toBe(false);
    expect(ifRangeMatches('"abc"', { etag: null, lastModified })).toBe(false);
  });
  it('accepts an exact Last-Modified date only when it is at least a second old', () => {
    const date = lastModified.toUTCString();
    expect(ifRangeMatches(date, { etag, lastModified }, lastModified.getTime() + 5000)).toBe(true);
    expect(ifRangeMatches(date, { etag, lastModified }, lastModified.getTime() + 500)).toBe(false);
    expect(ifRangeMatches(new Date(lastModified.getTime() + 1000).toUTCString(), { etag, lastModified }, Date.now())).toBe(false);
    expect(ifRangeMatches('not a date', { etag, lastModified })).toBe(false);
  });
});

describe('digest headers', () => {
  const hex = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  it('round-trips Repr-Digest (RFC 9530)', () => {
    expect(reprDigest(hex)).toBe('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
    expect(parseReprDigest(reprDigest(hex))).toBe(hex);
    expect(parseReprDigest(`sha-512=:AAAA:, ${reprDigest(hex)}`)).toBe(hex);
    expect(parseReprDigest('sha-512=:AAAA:')).toBeNull();
    expect(parseReprDigest('sha-256=:AAAA:')).toBeNull();
  });
  it('prefers X-Hedgerow-Sha256, falls back to Repr-Digest', () => {
    expect(announcedSha256((n) => (n === 'x-hedgerow-sha256' ? hex.toUpperCase() : undefined))).toBe(hex);
    expect(announcedSha256((n) => (n === 'repr-digest' ? reprDigest(hex) : undefined))).toBe(hex);
    expect(announcedSha256(() => undefined)).toBeNull();
  });
});
