/**
 * File assets under the configured data root: containment (symlinks and `..` resolved, anything outside
 * the root refused), regular files only, and a cached streaming SHA-256 of the whole file.
 *
 * Containment is checked three times: lexically before touching the file system (so a traversal attempt
 * is refused with 403 whether or not its target exists), on the `realpath` of the target, and again on
 * the opened descriptor (its device/inode must be the one the re-resolved path names), so swapping a
 * path component for a symlink between the check and the open is caught as well.
 */
import crypto, { type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ForbiddenError, HedgerowError, NotFoundError } from '../errors';
import { DataPlaneError, briefError } from './errors';

/** Identity of one version of a file: the digest cache key. Any change of content is expected to change size or mtime. */
export interface FileFingerprint {
  /** Real (symlink-free) absolute path. */
  path: string;
  size: number;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

/** Stable string form of a fingerprint (for maps and for a persistence table's primary key). */
export function fingerprintKey(fp: FileFingerprint): string {
  return `${fp.dev}:${fp.ino}:${fp.size}:${fp.mtimeNs}:${fp.path}`;
}

function fingerprintOf(realPath: string, st: fs.BigIntStats): FileFingerprint {
  return { path: realPath, size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino, dev: st.dev };
}

function sameVersion(a: FileFingerprint, b: FileFingerprint): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

function outside(): ForbiddenError {
  return new ForbiddenError('asset path is outside the data root', 'PATH_OUTSIDE_ROOT');
}

/** `child` equals `parent` or lies below it (both absolute and normalised). */
function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

async function realRootOf(root: string): Promise<string> {
  try {
    const real = await fsp.realpath(path.resolve(root));
    if (!(await fsp.stat(real)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return real;
  } catch (err) {
    throw new HedgerowError('DATA_ROOT_INVALID', `data root ${root} is not an accessible directory (${briefError(err)})`, { cause: err });
  }
}

export interface ResolvedPath {
  realRoot: string;
  /** Real absolute path of the target. */
  realPath: string;
  /** Path relative to the data root (safe to show to peers: reveals nothing about the host's layout). */
  relativePath: string;
}

/**
 * Resolve `assetPath` (relative to `root`, or absolute but under it) to a real path inside the real root.
 * Throws ForbiddenError PATH_OUTSIDE_ROOT, NotFoundError SOURCE_NOT_FOUND, HedgerowError DATA_ROOT_INVALID.
 * Does not check the file type (openFileSource does).
 */
export async function resolveUnderRoot(root: string, assetPath: string): Promise<ResolvedPath> {
  if (typeof assetPath !== 'string' || assetPath === '' || assetPath.includes('\0')) throw outside();
  const lexicalRoot = path.resolve(root);
  const realRoot = await realRootOf(root);
  const base = path.isAbsolute(assetPath) ? null : realRoot;
  const candidate = base ? path.resolve(base, assetPath) : path.resolve(assetPath);
  // Lexical check first: `../x` or `/etc/x` is refused without revealing whether it exists.
  if (base ? !isWithin(realRoot, candidate) : !isWithin(lexicalRoot, candidate) && !isWithin(realRoot, candidate)) throw outside();
  let realPath: string;
  try {
    realPath = await fsp.realpath(candidate);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`asset file ${JSON.stringify(assetPath)} does not exist`, 'SOURCE_NOT_FOUND');
    if (code === 'ELOOP') throw new ForbiddenError(`asset file ${JSON.stringify(assetPath)} is a symlink loop`, 'PATH_OUTSIDE_ROOT');
    throw new DataPlaneError('SOURCE_READ_FAILED', `asset file ${JSON.stringify(assetPath)} cannot be resolved (${briefError(err)})`, { cause: err });
  }
  if (!isWithin(realRoot, realPath)) throw outside();
  return { realRoot, realPath, relativePath: path.relative(realRoot, realPath) };
}

/** An asset file opened for reading. Keep it open while serving: renaming a new version over it does not disturb us. */
export interface OpenedFile {
  readonly path: string;
  readonly relativePath: string;
  readonly size: number;
  readonly mtime: Date;
  readonly fingerprint: FileFingerprint;
  readonly handle: FileHandle;
  /** A stream of bytes `start`..`end` inclusive (default: the whole file). Does not close the handle. */
  createReadStream(range?: { start: number; end: number }, highWaterMark?: number): Readable;
  /** Current fingerprint from the open descriptor (to detect in-place modification). */
  refresh(): Promise<FileFingerprint>;
  close(): Promise<void>;
}

const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/**
 * Resolve and open an asset file. Refuses anything outside the root (ForbiddenError PATH_OUTSIDE_ROOT)
 * and anything that is not a regular file (ForbiddenError NOT_A_REGULAR_FILE: directories, FIFOs, devices, sockets).
 */
export async function openFileSource(root: string, assetPath: string): Promise<OpenedFile> {
  const resolved = await resolveUnderRoot(root, assetPath);
  const notRegular = () => new ForbiddenError(`asset ${JSON.stringify(resolved.relativePath || '.')} is not a regular file`, 'NOT_A_REGULAR_FILE');
  // Type check before open: opening a FIFO would block a thread-pool thread (O_NONBLOCK below guards the race).
  const pre = await fsp.stat(resolved.realPath, { bigint: true });
  if (!pre.isFile()) throw notRegular();
  let handle: FileHandle;
  try {
    handle = await fsp.open(resolved.realPath, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw outside(); // the final component became a symlink after realpath
    if (code === 'ENOENT') throw new NotFoundError(`asset file ${JSON.stringify(assetPath)} does not exist`, 'SOURCE_NOT_FOUND');
    throw new DataPlaneError('SOURCE_READ_FAILED', `asset file ${JSON.stringify(resolved.relativePath)} cannot be opened (${briefError(err)})`, { cause: err });
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) throw notRegular();
    // The descriptor must be the file the (re-resolved) path names: catches a directory component swapped for a
    // symlink between realpath and open.
    const again = await resolveUnderRoot(root, assetPath);
    const atPath = await fsp.stat(again.realPath, { bigint: true });
    if (again.realPath !== resolved.realPath || atPath.ino !== st.ino || atPath.dev !== st.dev) throw outside();
    const fingerprint = fingerprintOf(resolved.realPath, st);
    let closed = false;
    return {
      path: resolved.realPath,
      relativePath: resolved.relativePath,
      size: fingerprint.size,
      mtime: st.mtime,
      fingerprint,
      handle,
      createReadStream(range, highWaterMark = 256 * 1024) {
        const start = range?.start ?? 0;
        const end = range?.end ?? fingerprint.size - 1;
        if (end < start) return Readable.from([]);
        // A ReadStream with `start` reads positionally (pread): several streams may share the handle.
        return fs.createReadStream('', { fd: handle, start, end, autoClose: false, highWaterMark });
      },
      async refresh() {
        return fingerprintOf(resolved.realPath, await handle.stat({ bigint: true }));
      },
      async close() {
        if (closed) return;
        closed = true;
        await handle.close().catch(() => undefined);
      },
    };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Feed bytes `start`..`end` (exclusive) of an open file into `hash`, reading 1 MiB blocks positionally
 * with one read always in flight while the previous block is hashed.
 */
export async function hashFileRange(handle: FileHandle, hash: Hash, start: number, end: number, signal?: AbortSignal): Promise<void> {
  const BLOCK = 1024 * 1024;
  const buffers = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
  let pos = start;
  let which = 0;
  const readAt = (buf: Buffer, at: number) => handle.read(buf, 0, Math.min(BLOCK, end - at), at);
  let pending = pos < end ? readAt(buffers[which]!, pos) : null;
  while (pending) {
    signal?.throwIfAborted();
    const { bytesRead, buffer } = await pending;
    if (bytesRead === 0) throw new DataPlaneError('SOURCE_CHANGED', 'file shrank while it was being hashed', { retryable: true });
    pos += bytesRead;
    which ^= 1;
    pending = pos < end ? readAt(buffers[which]!, pos) : null;
    hash.update(buffer.subarray(0, bytesRead));
  }
}

/** Where a digest cache keeps digests across restarts (the lead's SQLite table). Errors are treated as misses. */
export interface DigestPersistence {
  get(fingerprint: FileFingerprint, key: string): string | null | undefined | Promise<string | null | undefined>;
  set(fingerprint: FileFingerprint, key: string, sha256Hex: string): void | Promise<void>;
}

export interface DigestCacheOptions {
  /** In-memory LRU capacity (entries are ~200 bytes). Default 1024. */
  maxEntries?: number;
  persistence?: DigestPersistence;
  /** Told about persistence failures (which are otherwise ignored). */
  onPersistenceError?: (err: unknown) => void;
  /** Told when a file is actually hashed (not a cache hit): for logs, metrics and tests. */
  onHashed?: (fingerprint: FileFingerprint, ms: number) => void;
}

/**
 * SHA-256 of whole asset files, computed streaming once per file version (path+size+mtime+inode) and
 * remembered in a small LRU plus an optional persistent store. Concurrent requests for the same version
 * share one computation.
 */
export class DigestCache {
  private readonly lru = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly maxEntries: number;

  constructor(private readonly opts: DigestCacheOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? 1024);
  }

  /** The cached digest of this file version, without hashing (memory, then persistence). */
  async peek(fp: FileFingerprint): Promise<string | undefined> {
    const key = fingerprintKey(fp);
    const hit = this.lru.get(key);
    if (hit) {
      this.lru.delete(key);
      this.lru.set(key, hit);
      return hit;
    }
    if (!this.opts.persistence) return undefined;
    try {
      const stored = await this.opts.persistence.get(fp, key);
      if (typeof stored === 'string' && /^[0-9a-f]{64}$/.test(stored)) {
        this.remember(key, stored);
        return stored;
      }
    } catch (err) {
      this.opts.onPersistenceError?.(err);
    }
    return undefined;
  }

  /**
   * Hex SHA-256 of an opened file (cached). The handle must stay open until this resolves.
   * Throws DataPlaneError SOURCE_CHANGED if the file is modified in place while being hashed.
   */
  async sha256(file: Pick<OpenedFile, 'fingerprint' | 'handle'>): Promise<string> {
    const key = fingerprintKey(file.fingerprint);
    const known = this.inflight.get(key);
    if (known) return known;
    const job = (async () => {
      const cached = await this.peek(file.fingerprint);
      if (cached) return cached;
      const started = performance.now();
      const hash = crypto.createHash('sha256');
      await hashFileRange(file.handle, hash, 0, file.fingerprint.size);
      const after = fingerprintOf(file.fingerprint.path, await file.handle.stat({ bigint: true }));
      if (!sameVersion(after, file.fingerprint)) {
        throw new DataPlaneError('SOURCE_CHANGED', 'asset file changed while it was being hashed', { retryable: true });
      }
      const hex = hash.digest('hex');
      this.opts.onHashed?.(file.fingerprint, performance.now() - started);
      this.remember(key, hex);
      if (this.opts.persistence) {
        try {
          await this.opts.persistence.set(file.fingerprint, key, hex);
        } catch (err) {
          this.opts.onPersistenceError?.(err);
        }
      }
      return hex;
    })();
    this.inflight.set(key, job);
    try {
      return await job;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** Resolve, open, hash and close: for DataAddress properties and for warming the cache when an asset is registered. */
  async sha256OfAsset(root: string, assetPath: string): Promise<{ sha256: string; size: number; fingerprint: FileFingerprint }> {
    const file = await openFileSource(root, assetPath);
    try {
      return { sha256: await this.sha256(file), size: file.size, fingerprint: file.fingerprint };
    } finally {
      await file.close();
    }
  }

  get size(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }

  private remember(key: string, hex: string): void {
    this.lru.delete(key);
    this.lru.set(key, hex);
    while (this.lru.size > this.maxEntries) this.lru.delete(this.lru.keys().next().value!);
  }
}
