import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Clock, TokenBucket, throttle } from '../../src/dataplane/throttle';

/** A clock whose sleeps advance virtual time at once: timing is exact and the test takes no real time. */
class FakeClock implements Clock {
  t = 0;
  sleeps = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps++;
    this.t += ms;
  }
}

async function run(chunks: Buffer[], t: NodeJS.ReadWriteStream): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return out;
}

const chunksOf = (count: number, size: number) => Array.from({ length: count }, (_, i) => Buffer.alloc(size, i & 0xff));

describe('TokenBucket', () => {
  it('refills at the rate up to the capacity and lets reservations go into debt', () => {
    const clock = new FakeClock();
    const b = new TokenBucket(1000, { capacityBytes: 100, clock });
    expect(b.reserve(100)).toBe(0); // full bucket
    expect(b.reserve(50)).toBeCloseTo(50); // 50 bytes of debt at 1000 B/s = 50 ms
    expect(b.reserve(50)).toBeCloseTo(100); // shared bucket: the next taker waits behind the first
    clock.t += 10_000; // long idle: refills to capacity only
    expect(b.reserve(100)).toBe(0);
    expect(b.reserve(1)).toBeCloseTo(1);
  });

  it('defaults the capacity to 100 ms of the rate, between 1 byte and 8 MiB', () => {
    expect(new TokenBucket(1).capacity).toBe(1);
    expect(new TokenBucket(1000).capacity).toBe(100);
    expect(new TokenBucket(10e9).capacity).toBe(8 * 1024 * 1024);
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN)).toThrow(RangeError);
  });
});

describe('throttle (fake clock)', () => {
  it('moves N bytes in (N - capacity) / rate seconds', async () => {
    const clock = new FakeClock();
    const rate = 1024 * 1024; // 1 MiB/s
    const out = await run(chunksOf(64, 64 * 1024), throttle(rate, { clock })); // 4 MiB
    const bytes = out.reduce((n, c) => n + c.length, 0);
    expect(bytes).toBe(4 * 1024 * 1024);
    const capacity = rate / 10;
    expect(clock.t / 1000).toBeCloseTo((bytes - capacity) / rate, 3);
    expect(Math.max(...out.map((c) => c.length))).toBeLessThanOrEqual(capacity);
  });

  it('works for a very small cap (1 byte/s): one byte per second, no bursts', async () => {
    const clock = new FakeClock();
    const out = await run([Buffer.from('hello world')], throttle(1, { clock }));
    expect(out.map((c) => c.toString()).join('')).toBe('hello world');
    expect(out.every((c) => c.length === 1)).toBe(true);
    expect(clock.t).toBeCloseTo(10_000); // 11 bytes, the first one from the initial bucket
  });

  it('has no per-byte overhead for a large cap: chunks pass unsplit, few sleeps', async () => {
    const clock = new FakeClock();
    const out = await run(chunksOf(256, 256 * 1024), throttle(1e9, { clock })); // 64 MiB at 1 GB/s
    expect(out).toHaveLength(256);
    expect(out.every((c) => c.length === 256 * 1024)).toBe(true);
    expect(clock.sleeps).toBeLessThanOrEqual(256);
    expect(clock.t / 1000).toBeCloseTo((64 * 1024 * 1024 - 8 * 1024 * 1024) / 1e9, 3);
  });

  it('one bucket shared by two streams caps their sum', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(100_000, { clock, capacityBytes: 10_000 });
    await Promise.all([run(chunksOf(50, 2000), throttle(bucket)), run(chunksOf(50, 2000), throttle(bucket))]);
    expect(clock.t / 1000).toBeGreaterThanOrEqual((200_000 - 10_000) / 100_000 - 0.01);
  });
});

describe('throttle (real clock)', () => {
  it('never goes faster than a 2 MiB/s cap (exact pacing is checked with the virtual clock above)', async () => {
    const rate = 2 * 1024 * 1024;
    const started = performance.now();
    await run(chunksOf(32, 64 * 1024), throttle(rate)); // 2 MiB → about 0.9 s (first 200 KiB free)
    const seconds = (performance.now() - started) / 1000;
    const ideal = (2 * 1024 * 1024 - rate / 10) / rate;
    expect(seconds).toBeGreaterThan(ideal * 0.9);
  });

  it('stops waiting when destroyed (no hanging timer, no error)', async () => {
    const t = throttle(1); // 1 byte/s
    const src = Readable.from([Buffer.alloc(1000)]);
    const done = pipeline(src, t, new Writable({ write: (_c, _e, cb) => cb() }));
    await new Promise((r) => setTimeout(r, 50));
    t.destroy();
    // At 1 byte/s the pending wait is ~1000 s: settling at all (within jest's timeout) shows it was cut.
    await expect(done).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('respects backpressure: a slow reader keeps the throttle from buffering the source', async () => {
    const t = throttle(1e9);
    let produced = 0;
    const src = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(produced > 64 * 1024 * 1024 ? null : Buffer.alloc(64 * 1024));
      },
    });
    const sink = new Writable({ highWaterMark: 64 * 1024, write: (_c, _e, cb) => setTimeout(cb, 5) });
    const done = pipeline(src, t, sink);
    await new Promise((r) => setTimeout(r, 200));
    // Around 40 chunks were consumed in 200 ms; what was read ahead is bounded by the stream buffers, not the source size.
    expect(produced).toBeLessThan(8 * 1024 * 1024);
    src.destroy();
    await done.catch(() => undefined);
  });
});
