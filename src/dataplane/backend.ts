/**
 * HTTP(S) backends of assets (`{ type: 'http', url, headers }`): the provider streams from the backend with
 * undici (which follows no redirects by default). Backend credentials (source headers) are added here and never leave the provider: they are not
 * copied into responses, errors or logs, and the URL appears in errors only as origin + path.
 */
import type { Dispatcher } from 'undici';
import { undiciLib } from '../lazy';
import type { HedgerowError } from '../errors';
import { DataPlaneError, briefError, classifyNetworkError, discardBody, redactUrl } from './errors';

/** The SSRF policy for backend URLs: AddressGuard satisfies it, a LAN deployment may pass a laxer one. */
export interface UrlPolicy {
  /** Throw (a ForbiddenError) if `raw` must not be fetched; `what` names the address in messages. */
  checkUrl(raw: string, what: string): URL;
}

export interface BackendOptions {
  /** Checked before connecting. Required: a backend URL is never fetched unchecked. */
  policy: UrlPolicy;
  /** Connection pool, typically with the AddressGuard's `lookup` (DNS-rebinding safe) and extra CAs. */
  dispatcher?: Dispatcher;
  /** Connect + response headers timeout, and idle body timeout, in ms. Default 30 000. */
  timeoutMs?: number;
}

export interface BackendResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** Size of the whole representation when the backend told us (Content-Length of a 200, or the Content-Range total). */
  totalSize: number | null;
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Request headers we never let a caller smuggle to the backend through the asset definition's override. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'te', 'trailer', 'proxy-authorization']);

/**
 * GET (or HEAD) the backend. Resolves for 200, 206 and 416; every other outcome becomes a typed error:
 * DataPlaneError BACKEND_UNREACHABLE / BACKEND_TIMEOUT / BACKEND_STATUS, or the policy's ForbiddenError.
 */
export async function fetchBackend(
  source: { url: string; headers?: Record<string, string> },
  opts: BackendOptions & { method?: 'GET' | 'HEAD'; range?: string; ifRange?: string; signal?: AbortSignal },
): Promise<BackendResponse> {
  const url = opts.policy.checkUrl(source.url, 'asset backend address');
  const where = redactUrl(url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(source.headers ?? {})) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  headers['accept-encoding'] = 'identity';
  if (opts.range) headers.range = opts.range;
  if (opts.range && opts.ifRange) headers['if-range'] = opts.ifRange;
  const timeout = opts.timeoutMs ?? 30_000;
  let res: Dispatcher.ResponseData;
  try {
    res = await undiciLib().request(url, {
      method: opts.method ?? 'GET',
      headers,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  } catch (err) {
    throw backendFailure(err, where, opts.signal);
  }
  // Late errors (after a consumer of the body has gone) must not become unhandled 'error' events.
  res.body.on('error', () => undefined);
  const status = res.statusCode;
  if (status === 200 || status === 206 || status === 416) {
    const out: Record<string, string | undefined> = {};
    for (const name of ['content-type', 'content-length', 'content-range', 'content-encoding', 'etag', 'last-modified', 'accept-ranges', 'repr-digest', 'x-hedgerow-sha256', 'retry-after']) {
      out[name] = header(res.headers, name);
    }
    let totalSize: number | null = null;
    if (status === 200 && out['content-length'] && /^\d+$/.test(out['content-length'])) totalSize = Number(out['content-length']);
    const total = /\/(\d+)\s*$/.exec(out['content-range'] ?? '');
    if (status !== 200 && total) totalSize = Number(total[1]);
    return { status, headers: out, body: res.body, totalSize };
  }
  discardBody(res.body);
  const retryable = status >= 500 || status === 429 || status === 408;
  const what =
    status >= 300 && status < 400
      ? 'a redirect (not followed: point the asset at the final URL)'
      : status === 401 || status === 403
        ? `${status} (the backend refused the provider's credentials)`
        : String(status);
  throw new DataPlaneError('BACKEND_STATUS', `asset backend answered ${what}`, { status, retryable, internal: where });
}

/** Map an undici/system error from talking to a backend to a typed error. */
export function backendFailure(err: unknown, where: string, signal?: AbortSignal): HedgerowError {
  if (signal?.aborted) return new DataPlaneError('ABORTED', 'backend request aborted', { cause: err, internal: where });
  const c = classifyNetworkError(err);
  if (c.hedgerow) return c.hedgerow; // e.g. the guard's ForbiddenError from a DNS-rebinding-safe lookup
  if (c.kind === 'timeout') return new DataPlaneError('BACKEND_TIMEOUT', `asset backend did not answer in time (${c.code})`, { retryable: true, cause: err, internal: where });
  if (c.kind === 'tls') return new DataPlaneError('BACKEND_UNREACHABLE', `asset backend TLS failed (${c.code})`, { retryable: false, cause: err, internal: where });
  return new DataPlaneError('BACKEND_UNREACHABLE', `asset backend unreachable (${c.code ?? briefError(err)})`, { retryable: true, cause: err, internal: where });
}
