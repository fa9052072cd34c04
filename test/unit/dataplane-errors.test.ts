import { HedgerowError } from '../../src/errors';
import { DataPlaneError, briefError, classifyNetworkError, redactUrl } from '../../src/dataplane/errors';

describe('data-plane errors', () => {
  it('carry code, HTTP status, retryability and a one-line reason; the internal location is not serialised', () => {
    const e = new DataPlaneError('BACKEND_TIMEOUT', 'asset backend did not answer in time', { retryable: true, internal: 'http://10.0.0.5/objects/a' });
    expect(e).toBeInstanceOf(HedgerowError);
    expect(e.httpStatus).toBe(504);
    expect(e.retryable).toBe(true);
    expect(e.reason).toBe('BACKEND_TIMEOUT: asset backend did not answer in time');
    expect(e.internal).toBe('http://10.0.0.5/objects/a');
    expect(JSON.stringify(e)).not.toContain('10.0.0.5');
    expect(new DataPlaneError('DISK_FLOOR', 'x').httpStatus).toBe(507);
    expect(new DataPlaneError('DIGEST_MISMATCH', 'x').exitCode).toBe(65);
  });

  it('classifies network failures through cause chains', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyNetworkError(new Error('fetch failed', { cause: refused }))).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toMatchObject({ kind: 'timeout' });
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))).toMatchObject({ kind: 'tls' });
    const typed = new DataPlaneError('DISK_FLOOR', 'x');
    expect(classifyNetworkError(new Error('wrapped', { cause: typed })).hedgerow).toBe(typed);
    expect(classifyNetworkError(new Error('plain'))).toMatchObject({ kind: 'other', code: undefined });
    expect(briefError(refused)).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(briefError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('ECONNRESET socket hang up');
  });

  it('redacts URLs to origin and path (signed-URL queries and userinfo never shown)', () => {
    expect(redactUrl('https://user:pw@store.example:9000/bucket/a.csv?X-Amz-Signature=abc#f')).toBe('https://store.example:9000/bucket/a.csv');
    expect(redactUrl('not a url')).toBe('(invalid URL)');
  });
});
