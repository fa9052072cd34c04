/**
 * Bandwidth cap: a token bucket (bytes per second) and a Transform that lets bytes through at that rate.
 *
 * The bucket refills continuously (rate × elapsed) up to `capacity`. A stream reserves tokens for a slice
 * before pushing it; when the bucket runs short the reservation drives it negative (a debt) and the stream
 * sleeps until the debt is paid. Debts make one bucket safe to share between several streams (a per-transfer
 * cap across parallel requests), and make late timers self-correcting: oversleeping refills more tokens, so
 * the average rate holds even when timers fire coarsely.
 *
 * Cost per chunk is one clock read and a few arithmetic operations; chunks are split only when they are
 * larger than the bucket (i.e. for caps below ~10× the chunk size per second), so a 1 byte/s cap and a
 * 10 GB/s cap both work without per-byte overhead.
 */
import { Transform, type TransformCallback } from 'node:stream';

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolve after `ms` (an AbortSignal rejects early). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface TokenBucketOptions {
  /** Largest burst after idleness, in bytes. Default: 100 ms worth of the rate, at least 1 byte, at most 8 MiB. */
  capacityBytes?: number;
  clock?: Clock;
}

export class TokenBucket {
  readonly rate: number;
  readonly capacity: number;
  readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor(bytesPerSecond: number, opts: TokenBucketOptions = {}) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError(`bandwidth cap must be a positive number of bytes per second, got ${bytesPerSecond}`);
    this.rate = bytesPerSecond;
    this.capacity = Math.max(1, Math.floor(opts.capacityBytes ?? Math.min(8 * 1024 * 1024, bytesPerSecond / 10)));
    this.clock = opts.clock ?? realClock;
    this.tokens = this.capacity;
    this.last = this.clock.now();
  }

  /** Largest slice a stream should reserve at once: never more than the bucket holds. */
  get sliceBytes(): number {
    return this.capacity;
  }

  /** Take `n` tokens now (possibly going into debt); returns how many ms to wait before using them. */
  reserve(n: number): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }

  /** Reserve and wait. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    const wait = this.reserve(n);
    if (wait > 0) await this.clock.sleep(wait, signal);
  }
}

/**
 * A pass-through Transform limited by `limit` (bytes per second, or a shared TokenBucket). Backpressure is
 * preserved: the callback of each chunk is delayed until its bytes have been let through.
 */
export function throttle(limit: number | TokenBucket, opts: TokenBucketOptions = {}): Transform {
  const bucket = typeof limit === 'number' ? new TokenBucket(limit, opts) : limit;
  const abort = new AbortController();
  const slice = bucket.sliceBytes;
  return new Transform({
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const push = async () => {
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(chunk.length - off, slice);
          await bucket.take(n, abort.signal);
          if (this.destroyed) return;
          this.push(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n));
          off += n;
        }
      };
      push().then(() => cb(), (err: unknown) => cb(abort.signal.aborted ? null : (err as Error)));
    },
    destroy(err, cb) {
      abort.abort();
      cb(err);
    },
  });
}
