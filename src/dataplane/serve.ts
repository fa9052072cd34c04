/**
 * Provider side of HTTP pull: stream an asset (file under the data root, or an HTTP backend) to a consumer
 * with 200/206/416, byte ranges, `If-Range`, strong ETag from the content digest, RFC 9530 `Repr-Digest` and
 * `X-Hedgerow-Sha256` for the whole representation, an optional bandwidth cap, and backpressure end to end.
 *
 * Authorisation (the pull token, the transfer's state) is the caller's job and happens before serveAsset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AssetSource } from '../store/repositories/assets';
import { HedgerowError } from '../errors';
import { fetchBackend, type BackendOptions } from './backend';
import { announcedSha256, etagFor, reprDigest } from './digest-headers';
import { DataPlaneError, briefError, classifyNetworkError, discardBody } from './errors';
import { type DigestCache, openFileSource } from './file-source';
import { contentRange, parseContentRange, parseRange, unsatisfiedRange } from './range';
import { throttle, type TokenBucket } from './throttle';

export interface ServeOptions {
  /** Data root for `file` sources. Required for them. */
  dataRoot?: string;
  /** Digest cache for `file` sources (share one per process). Required for them. */
  digests?: DigestCache;
  /** For `http` sources: SSRF policy, dispatcher and timeout. Required for them. */
  backend?: BackendOptions;
  /** Content-Type of the asset. Default: the backend's, else application/octet-stream. */
  contentType?: string | null;
  /** Bandwidth cap: bytes per second for this response, or a TokenBucket shared by all responses of one transfer. */
  bandwidth?: number | TokenBucket | null;
  /** Aborting cuts the response at once (e.g. the transfer was suspended or terminated mid-stream). */
  signal?: AbortSignal;
  /** File read size. Default 256 KiB. */
  highWaterMark?: number;
}

export interface ServeResult {
  status: 200 | 206 | 416;
  /** Body bytes handed to the response (for HEAD: 0). */
  bytesSent: number;
  /** The body was written completely (false when the client went away or the signal aborted). */
  complete: boolean;
  /** Why the body is incomplete. */
  aborted?: 'client' | 'signal';
  /** First and last byte served (inclusive), for 206. */
  range?: { start: number; end: number };
  /** Size of the whole representation, when known. */
  size: number | null;
  /** Hex SHA-256 of the whole representation, when known (always for files). */
  sha256: string | null;
}

/**
 * RFC 9110 §13.1.5: does `If-Range` let the Range apply? An entity-tag must match strongly (weak tags never
 * do); an HTTP-date must equal Last-Modified exactly, and only when that date is a strong validator (at least
 * one second older than now).
 */
export function ifRangeMatches(ifRange: string | undefined, current: { etag: string | null; lastModified: Date | null }, now = Date.now()): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('W/')) return false;
  if (v.startsWith('"')) return current.etag !== null && !current.etag.startsWith('W/') && current.etag === v;
  if (!current.lastModified) return false;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return false;
  const lm = Math.floor(current.lastModified.getTime() / 1000) * 1000;
  return date === lm && now - lm >= 1000;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

const STREAM_CLOSED = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE', 'ABORT_ERR']);

/**
 * Stream `source` into `res`. Answers 200, 206 or 416 itself (also HEAD). Throws (before anything is written)
 * ForbiddenError PATH_OUTSIDE_ROOT / NOT_A_REGULAR_FILE, NotFoundError SOURCE_NOT_FOUND, DataPlaneError
 * BACKEND_* — the caller answers those (express `next(err)`) and may terminate the transfer with
 * `err.reason`. If the source fails after the response started, the connection is cut (the client resumes
 * with Range) and DataPlaneError BACKEND_STREAM_FAILED / SOURCE_READ_FAILED is thrown with `res.headersSent`
 * true. A client that goes away is not an error: the result says `complete: false, aborted: 'client'`.
 * Works with plain node:http(s) and express (whose req/res extend node's).
 */
export async function serveAsset(req: IncomingMessage, res: ServerResponse, source: AssetSource, opts: ServeOptions): Promise<ServeResult> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    throw new HedgerowError('METHOD_NOT_ALLOWED', `${method} is not supported on a data address (GET, HEAD)`, { httpStatus: 405, exitCode: 64 });
  }
  opts.signal?.throwIfAborted();
  if (source.type === 'file') return serveFile(req, res, source.path, opts, method === 'HEAD');
  if (source.type === 'http') return serveBackend(req, res, source, opts, method === 'HEAD');
  throw new HedgerowError('SOURCE_UNSUPPORTED', `asset source type ${JSON.stringify((source as { type: unknown }).type)} is not supported`, { httpStatus: 500 });
}

async function serveFile(req: IncomingMessage, res: ServerResponse, assetPath: string, opts: ServeOptions, head: boolean): Promise<ServeResult> {
  if (!opts.dataRoot || !opts.digests) throw new HedgerowError('DATAPLANE_MISCONFIGURED', 'serveAsset needs dataRoot and digests for file sources');
  const file = await openFileSource(opts.dataRoot, assetPath);
  try {
    // The digest is needed for the headers; the handle stays open until hashing is done even if the client leaves.
    const sha256 = await opts.digests.sha256(file);
    const etag = etagFor(sha256);
    const size = file.size;
    const common: Record<string, string> = {
      'accept-ranges': 'bytes',
      etag,
      'last-modified': file.mtime.toUTCString(),
      'repr-digest': reprDigest(sha256),
      'x-hedgerow-sha256': sha256,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-type': opts.contentType ?? 'application/octet-stream',
    };
    const rangeHeader = head ? undefined : headerValue(req, 'range');
    let range = rangeHeader === undefined ? ({ type: 'full' } as const) : parseRange(rangeHeader, size);
    if (range.type !== 'full' && !ifRangeMatches(headerValue(req, 'if-range'), { etag, lastModified: file.mtime })) range = { type: 'full' };
    if (range.type === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': unsatisfiedRange(size), 'content-length': '0' });
      res.end();
      return { status: 416, bytesSent: 0, complete: true, size, sha256 };
    }
    const status = range.type === 'partial' ? 206 : 200;
    const start = range.type === 'partial' ? range.start : 0;
    const end = range.type === 'partial' ? range.end : size - 1;
    const headers: Record<string, string> = { ...common, 'content-length': String(end - start + 1) };
    if (range.type === 'partial') headers['content-range'] = contentRange(start, end, size);
    const base = { status, size, sha256, ...(status === 206 ? { range: { start, end } } : {}) } as const;
    if (head) {
      res.writeHead(200, headers);
      res.end();
      return { ...base, status: 200, bytesSent: 0, complete: true };
    }
    res.writeHead(status, headers);
    const body = file.createReadStream({ start, end }, opts.highWaterMark);
    const streamed = await streamBody(body, res, opts, 'file');
    return { ...base, ...streamed };
  } finally {
    await file.close();
  }
}

async function serveBackend(
  req: IncomingMessage,
  res: ServerResponse,
  source: Extract<AssetSource, { type: 'http' }>,
  opts: ServeOptions,
  head: boolean,
): Promise<ServeResult> {
  if (!opts.backend) throw new HedgerowError('DATAPLANE_MISCONFIGURED', 'serveAsset needs backend options (URL policy) for http sources');
  const rangeHeader = head ? undefined : headerValue(req, 'range');
  const ifRange = headerValue(req, 'if-range');
  // Only a single well-formed range is passed on (our own parser decides; size is not known yet).
  const wanted = rangeHeader === undefined ? null : parseRange(rangeHeader, Number.MAX_SAFE_INTEGER);
  const forward = wanted?.type === 'partial' ? rangeHeader : undefined;
  const upstream = await fetchBackend(source, {
    ...opts.backend,
    method: head ? 'HEAD' : 'GET',
    ...(forward ? { range: forward } : {}),
    ...(forward && ifRange ? { ifRange } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const h = upstream.headers;
  const size = upstream.totalSize;
  const strongEtag = h.etag && !h.etag.startsWith('W/') ? h.etag : null;
  const lastModified = h['last-modified'] && !Number.isNaN(Date.parse(h['last-modified'])) ? new Date(h['last-modified']) : null;
  const sha256 = announcedSha256((name) => h[name]);
  const common: Record<string, string> = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-type': opts.contentType ?? h['content-type'] ?? 'application/octet-stream',
  };
  if (strongEtag) common.etag = strongEtag;
  if (h['last-modified']) common['last-modified'] = h['last-modified'];
  if (h['content-encoding'] && h['content-encoding'] !== 'identity') common['content-encoding'] = h['content-encoding'];
  if (sha256) {
    common['repr-digest'] = reprDigest(sha256);
    common['x-hedgerow-sha256'] = sha256;
  }
  // We can serve ranges if the backend does, or (emulated) if we know the size and the backend sent the whole thing.
  if (h['accept-ranges'] === 'bytes' || size !== null) common['accept-ranges'] = 'bytes';

  if (upstream.status === 416) {
    discardBody(upstream.body);
    const cr = parseContentRange(h['content-range']);
    res.writeHead(416, { ...common, 'content-length': '0', ...(cr && 'unsatisfied' in cr ? { 'content-range': unsatisfiedRange(cr.size) } : {}) });
    res.end();
    return { status: 416, bytesSent: 0, complete: true, size: cr && 'unsatisfied' in cr ? cr.size : null, sha256 };
  }

  let status: 200 | 206 = 200;
  let body: Readable = upstream.body;
  let rangeOut: { start: number; end: number } | undefined;
  if (upstream.status === 206) {
    const cr = parseContentRange(h['content-range']);
    if (!cr || 'unsatisfied' in cr) {
      discardBody(upstream.body);
      throw new DataPlaneError('BACKEND_STATUS', 'asset backend answered 206 without a valid Content-Range', { status: 206, retryable: false });
    }
    status = 206;
    rangeOut = { start: cr.start, end: cr.end };
    common['content-range'] = h['content-range']!;
    common['content-length'] = String(cr.end - cr.start + 1);
  } else {
    // 200. If the client asked for a range and the backend ignored it, emulate it when we safely can: size known,
    // no encoding, and If-Range (if any) matching the backend's validators. The skipped prefix only crosses the
    // provider's (usually fast) link to the backend, not the consumer's weak one.
    const emulate =
      wanted?.type === 'partial' || wanted?.type === 'unsatisfiable'
        ? size !== null && !common['content-encoding'] && ifRangeMatches(ifRange, { etag: strongEtag, lastModified })
        : false;
    if (emulate && size !== null) {
      const r = parseRange(rangeHeader, size);
      if (r.type === 'unsatisfiable') {
        discardBody(upstream.body);
        res.writeHead(416, { ...common, 'content-range': unsatisfiedRange(size), 'content-length': '0' });
        res.end();
        return { status: 416, bytesSent: 0, complete: true, size, sha256 };
      }
      if (r.type === 'partial') {
        status = 206;
        rangeOut = { start: r.start, end: r.end };
        common['content-range'] = contentRange(r.start, r.end, size);
        common['content-length'] = String(r.end - r.start + 1);
        const upstreamBody = upstream.body;
        let sliceDone = false;
        const sliced = sliceBytes(r.start, r.end - r.start + 1, () => {
          sliceDone = true;
          upstreamBody.unpipe(sliced);
          discardBody(upstreamBody); // the rest of the backend body is not needed
        });
        upstreamBody.on('error', (err) => {
          if (!sliceDone) sliced.destroy(err);
        });
        body = upstreamBody.pipe(sliced);
      }
    }
    if (!rangeOut && h['content-length']) common['content-length'] = h['content-length'];
  }
  const base = { status, size, sha256, ...(rangeOut ? { range: rangeOut } : {}) };
  if (head) {
    res.writeHead(200, common);
    res.end();
    discardBody(upstream.body);
    return { ...base, status: 200, bytesSent: 0, complete: true };
  }
  res.writeHead(status, common);
  return { ...base, ...(await streamBody(body, res, opts, 'backend')) };
}

/** Skip `skip` bytes, pass `take` bytes, then end and call `done` (which stops the upstream). */
function sliceBytes(skip: number, take: number, done: () => void): Transform {
  let toSkip = skip;
  let left = take;
  return new Transform({
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      let c = chunk;
      if (toSkip > 0) {
        if (c.length <= toSkip) {
          toSkip -= c.length;
          return cb();
        }
        c = c.subarray(toSkip);
        toSkip = 0;
      }
      if (left <= 0) return cb();
      if (c.length > left) c = c.subarray(0, left);
      left -= c.length;
      this.push(c);
      cb();
      if (left === 0) {
        this.push(null);
        done();
      }
    },
  });
}

async function streamBody(
  body: Readable,
  res: ServerResponse,
  opts: ServeOptions,
  kind: 'file' | 'backend',
): Promise<Pick<ServeResult, 'bytesSent' | 'complete' | 'aborted'>> {
  let bytesSent = 0;
  let first: 'client' | 'source' | undefined;
  let sourceError: unknown;
  const onSourceError = (err: unknown) => {
    first ??= 'source';
    sourceError ??= err;
  };
  const onClose = () => {
    if (!res.writableFinished) first ??= 'client';
  };
  body.on('error', onSourceError);
  res.on('close', onClose);
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [body];
  if (opts.bandwidth) stages.push(throttle(opts.bandwidth));
  const last = stages[stages.length - 1] as Readable;
  last.on('data', (chunk: Buffer) => {
    bytesSent += chunk.length;
  });
  try {
    await pipeline([...stages, res] as unknown as [Readable, NodeJS.WritableStream], opts.signal ? { signal: opts.signal } : {});
    return { bytesSent, complete: true };
  } catch (err) {
    if (opts.signal?.aborted) return { bytesSent, complete: false, aborted: 'signal' };
    if (first !== 'source') {
      const code = (err as { code?: string }).code;
      if (first === 'client' || (code && STREAM_CLOSED.has(code))) return { bytesSent, complete: false, aborted: 'client' };
    }
    const cause = sourceError ?? err;
    if (kind === 'backend') {
      const c = classifyNetworkError(cause);
      if (c.kind === 'timeout') throw new DataPlaneError('BACKEND_TIMEOUT', `asset backend stalled mid-stream (${c.code})`, { retryable: true, cause });
      throw new DataPlaneError('BACKEND_STREAM_FAILED', `asset backend stream broke after ${bytesSent} bytes (${briefError(cause)})`, { retryable: true, cause });
    }
    throw new DataPlaneError('SOURCE_READ_FAILED', `reading the asset file failed after ${bytesSent} bytes (${briefError(cause)})`, { retryable: true, cause });
  } finally {
    res.off('close', onClose);
    if (!res.writableFinished && !res.destroyed) res.destroy();
  }
}

/**
 * Express-compatible handler factory: `resolve` authorises the request and names the source (or throws a typed
 * error); the handler serves it, passes errors that happen before the response to `next`, and reports every
 * outcome to `onServed` / `onFailed` (for transfer bookkeeping: completion, termination with `err.reason`).
 */
export function assetHandler(
  resolve: (req: IncomingMessage) => Promise<{ source: AssetSource; options?: Partial<ServeOptions> }>,
  base: ServeOptions & {
    onServed?: (result: ServeResult, req: IncomingMessage) => void;
    onFailed?: (err: unknown, req: IncomingMessage, headersSent: boolean) => void;
  },
) {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    resolve(req)
      .then(({ source, options }) => serveAsset(req, res, source, { ...base, ...options }))
      .then(
        (result) => base.onServed?.(result, req),
        (err: unknown) => {
          base.onFailed?.(err, req, res.headersSent);
          if (!res.headersSent) next(err);
          else if (!res.destroyed) res.destroy();
        },
      );
  };
}
