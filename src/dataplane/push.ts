/**
 * Provider side of HTTP push: stream a source to the consumer's endpoint (PUT or POST with the authorization
 * the consumer gave in its DataAddress), computing the SHA-256 and byte count on the way.
 *
 * The endpoint comes from a peer: the caller passes the SSRF policy (`policy.checkUrl`, checked before
 * connecting) and a dispatcher whose `lookup` refuses forbidden resolutions (AddressGuard.lookup()).
 */
import crypto from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { undiciLib } from '../lazy';
import { HedgerowError } from '../errors';
import type { AssetSource } from '../store/repositories/assets';
import { fetchBackend, type BackendOptions, type UrlPolicy } from './backend';
import { announcedSha256, reprDigest } from './digest-headers';
import { DataPlaneError, briefError, classifyNetworkError, discardBody, redactUrl } from './errors';
import { type DigestCache, openFileSource } from './file-source';
import { throttle, type TokenBucket } from './throttle';

export interface PushOptions {
  url: string;
  method?: 'PUT' | 'POST';
  /** The `Authorization` value from the consumer's DataAddress (e.g. `Bearer …`). */
  authorization?: string;
  /** Further request headers (from the DataAddress). Hop-by-hop headers are dropped. */
  headers?: Record<string, string>;
  contentType?: string | null;
  /** SSRF policy for the peer-supplied URL, checked before connecting. */
  policy?: UrlPolicy;
  /** Connection pool with the guard's `lookup` and trusted CAs. Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  bandwidth?: number | TokenBucket | null;
  /** Response-headers timeout and idle body timeout in ms. Default 60 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number | null) => void;
}

export interface PushResult {
  bytes: number;
  /** Hex SHA-256 of the bytes sent. */
  sha256: string;
  /** The destination's HTTP status (2xx). */
  status: number;
  seconds: number;
}

const DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'te', 'trailer', 'expect']);

/**
 * Stream `body` to the endpoint. `size` (when known) is sent as Content-Length and enforced; `sha256` (when
 * known in advance) is announced as `Repr-Digest` / `X-Hedgerow-Sha256` so the receiver can verify.
 * Throws DataPlaneError PUSH_UNREACHABLE / PUSH_TIMEOUT / PUSH_STATUS (`retryable` for network trouble, 5xx,
 * 408, 429), the source's own typed error if reading the source fails, or the policy's ForbiddenError.
 */
export async function pushStream(body: Readable, opts: PushOptions & { size?: number | null; sha256?: string | null }): Promise<PushResult> {
  const started = performance.now();
  const url = opts.policy ? opts.policy.checkUrl(opts.url, 'push data address') : new URL(opts.url);
  const where = redactUrl(url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (!DROP.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  if (opts.authorization) headers.authorization = opts.authorization;
  headers['content-type'] = opts.contentType ?? headers['content-type'] ?? 'application/octet-stream';
  const size = opts.size ?? null;
  if (size !== null) headers['content-length'] = String(size);
  if (opts.sha256) {
    headers['repr-digest'] = reprDigest(opts.sha256);
    headers['x-hedgerow-sha256'] = opts.sha256;
  }

  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let sourceError: unknown;
  body.on('error', (err) => {
    sourceError ??= err;
  });
  const meter = new Transform({
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      opts.onProgress?.(bytes, size);
      cb(null, chunk);
    },
  });
  let outgoing: Readable = body.pipe(meter);
  body.on('error', (err) => meter.destroy(err));
  if (opts.bandwidth) {
    const t = throttle(opts.bandwidth);
    meter.on('error', (err) => t.destroy(err));
    outgoing = meter.pipe(t);
  }

  let res: Dispatcher.ResponseData;
  try {
    res = await undiciLib().request(url, {
      method: opts.method ?? 'PUT',
      headers,
      body: outgoing,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      headersTimeout: opts.timeoutMs ?? 60_000,
      bodyTimeout: opts.timeoutMs ?? 60_000,
    });
  } catch (err) {
    body.destroy();
    if (opts.signal?.aborted) throw new DataPlaneError('ABORTED', 'push aborted', { cause: err, internal: where });
    if (sourceError) throw sourceError instanceof HedgerowError ? sourceError : new DataPlaneError('SOURCE_READ_FAILED', `reading the source failed after ${bytes} bytes (${briefError(sourceError)})`, { retryable: true, cause: sourceError });
    const c = classifyNetworkError(err);
    if (c.hedgerow) throw c.hedgerow;
    if (c.kind === 'timeout') throw new DataPlaneError('PUSH_TIMEOUT', `push destination did not answer in time (${c.code})`, { retryable: true, cause: err, internal: where });
    throw new DataPlaneError('PUSH_UNREACHABLE', `push destination unreachable or connection broken after ${bytes} bytes (${c.code ?? briefError(err)})`, {
      retryable: c.kind !== 'tls' && (err as { code?: string }).code !== 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
      cause: err,
      internal: where,
    });
  }
  // The answer may come before the whole body was consumed (an early 4xx): stop sending then.
  await res.body.text().catch(() => '');
  if (res.statusCode < 200 || res.statusCode >= 300) {
    body.destroy();
    const s = res.statusCode;
    throw new DataPlaneError('PUSH_STATUS', `push destination answered ${s}${s >= 300 && s < 400 ? ' (redirects are not followed)' : ''}`, {
      status: s,
      retryable: s >= 500 || s === 408 || s === 429,
      internal: where,
    });
  }
  if (size !== null && bytes !== size) {
    throw new DataPlaneError('PUSH_UNREACHABLE', `push ended after ${bytes} of ${size} bytes`, { retryable: true, internal: where });
  }
  return { bytes, sha256: hash.digest('hex'), status: res.statusCode, seconds: (performance.now() - started) / 1000 };
}

/**
 * Push an asset: a file under the data root (size and cached digest announced up front) or an HTTP backend
 * (streamed through; size and digest announced when the backend gives them).
 */
export async function pushAsset(
  source: AssetSource,
  opts: PushOptions & { dataRoot?: string; digests?: DigestCache; backend?: BackendOptions },
): Promise<PushResult> {
  if (source.type === 'file') {
    if (!opts.dataRoot || !opts.digests) throw new HedgerowError('DATAPLANE_MISCONFIGURED', 'pushAsset needs dataRoot and digests for file sources');
    const file = await openFileSource(opts.dataRoot, source.path);
    try {
      const sha256 = await opts.digests.sha256(file);
      const result = await pushStream(file.createReadStream(), { ...opts, size: file.size, sha256 });
      if (result.sha256 !== sha256) {
        throw new DataPlaneError('SOURCE_CHANGED', 'asset file changed while it was being pushed', { retryable: true });
      }
      return result;
    } finally {
      await file.close();
    }
  }
  if (source.type === 'http') {
    if (!opts.backend) throw new HedgerowError('DATAPLANE_MISCONFIGURED', 'pushAsset needs backend options (URL policy) for http sources');
    const upstream = await fetchBackend(source, { ...opts.backend, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (upstream.status !== 200) {
      discardBody(upstream.body);
      throw new DataPlaneError('BACKEND_STATUS', `asset backend answered ${upstream.status} to a plain GET`, { status: upstream.status });
    }
    const announced = announcedSha256((n) => upstream.headers[n]);
    let result: PushResult;
    try {
      result = await pushStream(upstream.body, {
        ...opts,
        size: upstream.totalSize,
        sha256: announced,
        contentType: opts.contentType ?? upstream.headers['content-type'] ?? null,
      });
    } catch (err) {
      if (err instanceof DataPlaneError && err.code === 'SOURCE_READ_FAILED') {
        throw new DataPlaneError('BACKEND_STREAM_FAILED', err.message.replace('reading the source', 'the asset backend stream'), { retryable: true, cause: err.cause });
      }
      throw err;
    }
    if (announced && result.sha256 !== announced) {
      throw new DataPlaneError('BACKEND_STREAM_FAILED', 'asset backend sent data that does not match its own announced SHA-256', { retryable: true });
    }
    return result;
  }
  throw new HedgerowError('SOURCE_UNSUPPORTED', `asset source type ${JSON.stringify((source as { type: unknown }).type)} is not supported`);
}
