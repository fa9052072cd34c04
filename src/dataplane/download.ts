/**
 * Consumer side of HTTP pull: download into `<out>.part`, resume with `Range`/`If-Range` after interruptions
 * (also across processes, through the `<out>.part.json` sidecar), hash while writing, verify the SHA-256,
 * fsync and rename atomically. A half-downloaded or unverified file never appears at `out`.
 */
import crypto, { type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { undiciLib } from '../lazy';
import { HedgerowError } from '../errors';
import type { UrlPolicy } from './backend';
import { announcedSha256 } from './digest-headers';
import { DataPlaneError, briefError, classifyNetworkError, discardBody, redactUrl } from './errors';
import { hashFileRange } from './file-source';
import { parseContentRange } from './range';
import { throttle } from './throttle';

export type HeaderSource = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

export interface RetryPolicy {
  /**
   * How many attempts in a row may fail without receiving a single byte before the download gives up.
   * An attempt that made progress resets the count (and the delay): on a link that drops every few minutes a
   * multi-GB download keeps going as long as each connection moves data.
   */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface DownloadProgress {
  /** Bytes in the .part file so far. */
  bytes: number;
  /** Size of the whole file, when the server told us. */
  total: number | null;
  /** 1-based attempt number. */
  attempt: number;
  /** Offset this attempt resumed from (0 for a fresh start). */
  resumedFrom: number;
  /** What is happening: `rehash` while re-reading a .part left by an earlier process, `waiting` between attempts. */
  phase: 'rehash' | 'transfer' | 'waiting' | 'verify';
}

export interface DownloadOptions {
  url: string;
  /** Request headers (Authorization: Bearer …), or a function called before every attempt (token refresh). */
  headers?: HeaderSource;
  /** Final path. Its directory must exist. An existing file there is replaced atomically on success. */
  out: string;
  /** Hex SHA-256 the file must have. Default: the server's `Repr-Digest` / `X-Hedgerow-Sha256`. */
  expectedSha256?: string;
  /** Download bandwidth cap in bytes per second. */
  bandwidthBytesPerSecond?: number;
  /** Refuse to start or resume if free space minus the remaining bytes would fall below this (bytes). */
  minFreeBytes: number;
  retry?: RetryPolicy;
  onProgress?: (p: DownloadProgress) => void;
  /** Aborting stops at once, keeping the .part and sidecar for a later resume (DataPlaneError ABORTED). */
  signal?: AbortSignal;
  /** Connection pool (trusted CAs, SSRF lookup). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Checked before every attempt (SSRF policy for a peer-supplied endpoint). */
  policy?: UrlPolicy;
  /** Response-headers timeout and body idle timeout in ms. Default 60 000. */
  timeoutMs?: number;
  /** Free bytes of the file system holding `dir` (default: fs.statfsSync). For tests and exotic platforms. */
  freeBytes?: (dir: string) => number;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  seconds: number;
  /** How many times the download continued from a non-zero offset (206 accepted), across processes too. */
  resumed: number;
  /** Attempts made (requests sent). */
  attempts: number;
  /** What the digest was checked against: the caller's expectation, the server's header, or nothing (none given). */
  verifiedAgainst: 'expected' | 'server' | 'none';
}

/** What `<out>.part.json` holds. Never secrets: no headers, no tokens. */
export interface PartSidecar {
  version: 1;
  url: string;
  etag: string | null;
  lastModified: string | null;
  expectedSha256: string | null;
  serverSha256: string | null;
  totalBytes: number | null;
  updatedAt: string;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 1000, maxDelayMs: 60_000 };
const DISK_RECHECK_BYTES = 64 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 50;

export function partPaths(out: string): { part: string; sidecar: string } {
  return { part: `${out}.part`, sidecar: `${out}.part.json` };
}

/** Free bytes for an unprivileged writer on the file system holding `dir`. */
export function freeBytesOf(dir: string): number {
  const s = fs.statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

async function readSidecar(file: string): Promise<PartSidecar | null> {
  try {
    const data = JSON.parse(await fsp.readFile(file, 'utf8')) as PartSidecar;
    return data && data.version === 1 && typeof data.url === 'string' ? data : null;
  } catch {
    return null;
  }
}

async function writeSidecar(file: string, data: PartSidecar): Promise<void> {
  const tmp = `${file}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

async function fsyncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch {
    // Some platforms/file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** Writes at an explicit position and feeds the hash only with bytes that reached the file: hash ≡ file prefix. */
class PartWriter extends Writable {
  constructor(
    private readonly handle: FileHandle,
    private readonly hash: Hash,
    public position: number,
    private readonly onWritten: (position: number) => void,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    const total = bufs.reduce((n, b) => n + b.length, 0);
    this.inflight = this.writeAll(bufs, total).then(() => {
      for (const b of bufs) this.hash.update(b);
      this.position += total;
      this.onWritten(this.position);
    });
    this.inflight.then(() => cb(), cb);
  }

  private inflight: Promise<void> = Promise.resolve();

  /**
   * Resolves once no write is in flight. A pipeline that failed has destroyed this stream, but a write already
   * handed to the thread pool still lands (and is hashed): wait for it before trusting `position`.
   */
  async settled(): Promise<void> {
    await this.inflight.catch(() => undefined);
  }

  private async writeAll(bufs: Buffer[], total: number): Promise<void> {
    let written = 0;
    while (written < total) {
      const { bytesWritten } = await this.handle.writev(written === 0 ? bufs : remainder(bufs, written), this.position + written);
      if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      written += bytesWritten;
    }
  }
}

function remainder(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

function headerOf(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function serverDigest(headers: Dispatcher.ResponseData['headers']): string | null {
  return announcedSha256((name) => headerOf(headers, name));
}

function retryAfterMs(value: string | undefined): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An attempt failed in a way that another attempt may fix. `retryAfterMs` overrides the backoff. */
class Retryable extends Error {
  constructor(
    readonly error: HedgerowError,
    readonly retryAfterMs: number | null = null,
  ) {
    super(error.message);
  }
}

/**
 * Download `url` into `out`. Throws DataPlaneError: DIGEST_MISMATCH (the .part is deleted), DISK_FLOOR,
 * DOWNLOAD_STATUS / DOWNLOAD_UNREACHABLE / DOWNLOAD_PROTOCOL (after the retries; the .part is kept for a later
 * resume), LOCAL_WRITE_FAILED, ABORTED (the .part is kept).
 */
export async function downloadToFile(opts: DownloadOptions): Promise<DownloadResult> {
  const started = performance.now();
  const retry = opts.retry ?? DEFAULT_RETRY;
  const where = redactUrl(opts.url);
  const expected = opts.expectedSha256?.toLowerCase() ?? null;
  if (expected !== null && !/^[0-9a-f]{64}$/.test(expected)) throw new DataPlaneError('DOWNLOAD_PROTOCOL', 'expectedSha256 must be 64 hex digits');
  const { part, sidecar: sidecarPath } = partPaths(opts.out);
  const dir = path.dirname(path.resolve(opts.out));
  const freeBytes = opts.freeBytes ?? freeBytesOf;
  const signal = opts.signal;
  const aborted = (cause?: unknown) => new DataPlaneError('ABORTED', 'download aborted; the partial file is kept for a later resume', { cause });

  const checkDisk = (remaining: number) => {
    const free = freeBytes(dir);
    if (free - remaining < opts.minFreeBytes) {
      throw new DataPlaneError(
        'DISK_FLOOR',
        `not enough disk space: ${free} bytes free, ${remaining} still to download, floor ${opts.minFreeBytes}`,
        { details: { freeBytes: free, remainingBytes: remaining, minFreeBytes: opts.minFreeBytes } },
      );
    }
  };

  // ---- state carried across attempts (and, through the sidecar, across processes)
  let handle: FileHandle | undefined;
  let hash = crypto.createHash('sha256');
  let offset = 0;
  let etag: string | null = null;
  let lastModified: string | null = null;
  let total: number | null = null;
  let serverSha: string | null = null;
  let resumed = 0;
  let attempt = 0;
  let receivedInAttempt = 0;
  let lastProgress = 0;

  const progress = (phase: DownloadProgress['phase'], resumedFrom: number, force = false) => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < PROGRESS_INTERVAL_MS) return;
    lastProgress = now;
    opts.onProgress({ bytes: offset, total, attempt, resumedFrom, phase });
  };

  const saveSidecar = () =>
    writeSidecar(sidecarPath, {
      version: 1,
      url: opts.url,
      etag,
      lastModified,
      expectedSha256: expected,
      serverSha256: serverSha,
      totalBytes: total,
      updatedAt: new Date().toISOString(),
    });

  const restart = async () => {
    await handle!.truncate(0);
    hash = crypto.createHash('sha256');
    offset = 0;
    etag = null;
    lastModified = null;
    total = null;
    serverSha = null;
  };

  const localFailure = (err: unknown, what: string) =>
    err instanceof HedgerowError ? err : new DataPlaneError('LOCAL_WRITE_FAILED', `${what}: ${briefError(err)}`, { cause: err });

  try {
    // ---- open the .part: resume what an earlier process left if the sidecar vouches for it
    try {
      const [sidecar, partStat] = await Promise.all([readSidecar(sidecarPath), fsp.stat(part).catch(() => null)]);
      const resumable =
        sidecar !== null &&
        partStat !== null &&
        partStat.isFile() &&
        partStat.size > 0 &&
        sidecar.url === opts.url &&
        (expected === null || sidecar.expectedSha256 === null || sidecar.expectedSha256 === expected) &&
        (sidecar.totalBytes === null || partStat.size <= sidecar.totalBytes) &&
        // Splicing needs a validator (If-Range) or a digest that will catch a splice of two versions.
        (sidecar.etag !== null || expected !== null || sidecar.serverSha256 !== null);
      if (resumable) {
        handle = await fsp.open(part, 'r+');
        etag = sidecar.etag;
        lastModified = sidecar.lastModified;
        total = sidecar.totalBytes;
        serverSha = sidecar.serverSha256;
        offset = partStat.size;
        progress('rehash', offset, true);
        await hashFileRange(handle, hash, 0, offset, signal);
      } else {
        handle = await fsp.open(part, 'w+');
        await fsp.rm(sidecarPath, { force: true });
      }
    } catch (err) {
      if (signal?.aborted) throw aborted(err);
      throw localFailure(err, `cannot prepare ${part}`);
    }

    let failures = 0;
    let lastError: HedgerowError | undefined;
    for (;;) {
      if (signal?.aborted) throw aborted(signal.reason);
      attempt++;
      receivedInAttempt = 0;
      try {
        const done = await attemptOnce();
        if (done) break;
        failures = 0; // a deliberate restart (200 / changed ETag) is not a failure
        continue;
      } catch (err) {
        if (signal?.aborted) throw aborted(err);
        if (!(err instanceof Retryable)) throw err;
        lastError = err.error;
        if (receivedInAttempt > 0) failures = 0;
        failures++;
        // The file must hold exactly the hashed prefix (a failed write may have left a few unhashed bytes).
        await handle!.truncate(offset).catch(() => undefined);
        await handle!.sync().catch(() => undefined);
        if (failures >= retry.attempts) throw lastError;
        const backoff = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (failures - 1));
        const delay = err.retryAfterMs !== null ? Math.min(retry.maxDelayMs, err.retryAfterMs) : backoff / 2 + (Math.random() * backoff) / 2;
        progress('waiting', offset, true);
        try {
          await sleep(delay, signal);
        } catch (e) {
          throw aborted(e);
        }
      }
    }

    // ---- verify, fsync, rename
    progress('verify', offset, true);
    const sha256 = hash.digest('hex');
    const want = expected ?? serverSha;
    if (want !== null && sha256 !== want) {
      await handle.close().catch(() => undefined);
      handle = undefined;
      await fsp.rm(part, { force: true });
      await fsp.rm(sidecarPath, { force: true });
      throw new DataPlaneError('DIGEST_MISMATCH', `downloaded data has SHA-256 ${sha256}, expected ${want}; the partial file was deleted`, {
        details: { expected: want, actual: sha256 },
      });
    }
    try {
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fsp.rename(part, opts.out);
      await fsyncDir(dir);
      await fsp.rm(sidecarPath, { force: true });
    } catch (err) {
      throw localFailure(err, `cannot move the download into place at ${opts.out}`);
    }
    return {
      bytes: offset,
      sha256,
      seconds: (performance.now() - started) / 1000,
      resumed,
      attempts: attempt,
      verifiedAgainst: expected !== null ? 'expected' : serverSha !== null ? 'server' : 'none',
    };
  } finally {
    await handle?.close().catch(() => undefined);
  }

  /** One request. Resolves true when the file is complete, false to go again at once; throws Retryable or a final error. */
  async function attemptOnce(): Promise<boolean> {
    if (total !== null) checkDisk(total - offset);
    if (opts.policy) opts.policy.checkUrl(opts.url, 'data address');
    const given = typeof opts.headers === 'function' ? await opts.headers() : (opts.headers ?? {});
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(given)) headers[k.toLowerCase()] = v;
    headers['accept-encoding'] = 'identity';
    delete headers.range;
    delete headers['if-range'];
    const from = offset;
    if (from > 0) {
      headers.range = `bytes=${from}-`;
      if (etag) headers['if-range'] = etag;
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciLib().request(opts.url, {
        method: 'GET',
        headers,
        ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
        ...(signal ? { signal } : {}),
        headersTimeout: opts.timeoutMs ?? 60_000,
        bodyTimeout: opts.timeoutMs ?? 60_000,
      });
    } catch (err) {
      throw networkFailure(err);
    }
    res.body.on('error', () => undefined); // late errors after the pipeline settled are expected, not unhandled
    const status = res.statusCode;
    const discard = () => discardBody(res.body);

    if (status === 416 && from > 0) {
      discard();
      const cr = parseContentRange(headerOf(res.headers, 'content-range'));
      const digest = serverDigest(res.headers);
      if (cr && 'unsatisfied' in cr && cr.size === from && (total === null || total === from) && (digest === null || serverSha === null || digest === serverSha)) {
        total = from; // everything was already there (a crash between the last byte and the rename)
        return true;
      }
      await restart();
      return false;
    }
    if (status !== 200 && status !== 206) {
      discard();
      throw statusFailure(status, headerOf(res.headers, 'retry-after'));
    }

    const resEtagRaw = headerOf(res.headers, 'etag') ?? null;
    const resEtag = resEtagRaw && !resEtagRaw.startsWith('W/') ? resEtagRaw : null;
    const resDigest = serverDigest(res.headers);
    if (status === 200) {
      if (from > 0) await restart();
      const len = headerOf(res.headers, 'content-length');
      total = len && /^\d+$/.test(len) ? Number(len) : null;
    } else {
      const cr = parseContentRange(headerOf(res.headers, 'content-range'));
      if (from === 0 || !cr || 'unsatisfied' in cr || cr.start !== from || (cr.size !== null && cr.end !== cr.size - 1)) {
        discard();
        throw new DataPlaneError('DOWNLOAD_PROTOCOL', `server answered 206 with Content-Range ${JSON.stringify(headerOf(res.headers, 'content-range') ?? null)} to a request for bytes=${from}-`, { status, internal: where });
      }
      // A server that ignores If-Range but whose representation changed: do not splice two versions.
      const changed = (etag !== null && resEtag !== null && resEtag !== etag) || (serverSha !== null && resDigest !== null && resDigest !== serverSha) || (total !== null && cr.size !== null && cr.size !== total);
      if (changed) {
        discard();
        await restart();
        return false;
      }
      total = cr.size;
      resumed++;
    }
    etag = resEtag;
    lastModified = headerOf(res.headers, 'last-modified') ?? null;
    serverSha = resDigest;
    if (expected !== null && serverSha !== null && serverSha !== expected) {
      discard();
      await handle!.close().catch(() => undefined);
      handle = undefined;
      await fsp.rm(part, { force: true });
      await fsp.rm(sidecarPath, { force: true });
      throw new DataPlaneError('DIGEST_MISMATCH', `the server announces SHA-256 ${serverSha}, expected ${expected}; nothing was kept`, {
        details: { expected, actual: serverSha },
      });
    }
    try {
      if (total !== null) checkDisk(total - offset);
      else checkDisk(0);
    } catch (err) {
      discard();
      throw err;
    }
    await saveSidecar().catch((err: unknown) => {
      discard();
      throw localFailure(err, `cannot write ${sidecarPath}`);
    });

    // ---- body
    let nextDiskCheck = offset + DISK_RECHECK_BYTES;
    let diskError: HedgerowError | undefined;
    const writer = new PartWriter(handle!, hash, offset, (pos) => {
      receivedInAttempt += pos - offset;
      offset = pos;
      progress('transfer', from);
      if (pos >= nextDiskCheck) {
        nextDiskCheck = pos + DISK_RECHECK_BYTES;
        try {
          checkDisk(total !== null ? total - pos : 0);
        } catch (err) {
          diskError = err as HedgerowError;
          writer.destroy(err as Error);
        }
      }
    });
    let writeError: unknown;
    writer.on('error', (err) => {
      writeError ??= err;
    });
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [res.body];
    if (opts.bandwidthBytesPerSecond) stages.push(throttle(opts.bandwidthBytesPerSecond));
    try {
      await pipeline([...stages, writer] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], signal ? { signal } : {});
    } catch (err) {
      await writer.settled();
      offset = writer.position;
      if (signal?.aborted) throw aborted(err);
      if (diskError) throw diskError;
      if (writeError && !isNetworkish(writeError) && (writeError as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        throw localFailure(writeError, `writing ${part} failed`);
      }
      throw networkFailure(err);
    }
    offset = writer.position;
    progress('transfer', from, true);
    if (total !== null && offset !== total) {
      throw new Retryable(new DataPlaneError('DOWNLOAD_PROTOCOL', `connection ended after ${offset} of ${total} bytes`, { retryable: true, internal: where }));
    }
    if (total === null) total = offset;
    return true;
  }

  function isNetworkish(err: unknown): boolean {
    return classifyNetworkError(err).kind !== 'other';
  }

  function networkFailure(err: unknown): Retryable | HedgerowError {
    if (err instanceof Retryable) return err;
    const c = classifyNetworkError(err);
    if (c.hedgerow) return c.hedgerow; // e.g. the SSRF guard refused the address: final
    if (c.kind === 'tls') {
      return new DataPlaneError('DOWNLOAD_UNREACHABLE', `TLS with the provider failed (${c.code})`, { cause: err, internal: where });
    }
    const msg = c.kind === 'timeout' ? `provider did not answer in time (${c.code})` : `connection to the provider failed (${c.code ?? briefError(err)})`;
    return new Retryable(new DataPlaneError('DOWNLOAD_UNREACHABLE', msg, { retryable: true, cause: err, internal: where }));
  }

  function statusFailure(status: number, retryAfter: string | undefined): Retryable | DataPlaneError {
    const refreshable = typeof opts.headers === 'function' && (status === 401 || status === 403);
    const retryable = refreshable || status >= 500 || status === 429 || status === 408;
    const what = status >= 300 && status < 400 ? `${status} (redirects are not followed)` : String(status);
    const error = new DataPlaneError('DOWNLOAD_STATUS', `provider answered ${what}`, { status, retryable, internal: where });
    return retryable ? new Retryable(error, retryAfterMs(retryAfter)) : error;
  }
}
