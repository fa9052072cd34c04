import { ProgressBar, formatBytes, formatDuration } from '../../src/dataplane/progress';

class FakeStream {
  out: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(s: string) {
    this.out.push(s);
    return true;
  }
}

describe('progress', () => {
  it('formats bytes and durations', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(1024 ** 3)).toBe('1.00 GiB');
    expect(formatBytes(150 * 1024 ** 2)).toBe('150 MiB');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(7620)).toBe('2h07m');
    expect(formatDuration(Infinity)).toBe('--');
  });

  it('on a TTY redraws one line in place, at most every 100 ms, with rate and ETA', () => {
    let t = 0;
    const stream = new FakeStream(true);
    const bar = new ProgressBar({ stream, now: () => t, label: 'data.csv' });
    for (let i = 0; i <= 100; i++) {
      t = i * 10; // an update every 10 ms for 1 s
      bar.update(i * 1024 * 1024, 200 * 1024 * 1024);
    }
    expect(stream.out.length).toBeGreaterThanOrEqual(10);
    expect(stream.out.length).toBeLessThanOrEqual(11);
    const last = stream.out[stream.out.length - 1]!;
    expect(last.startsWith('\r')).toBe(true);
    expect(last).toContain('\x1b[K');
    expect(last).toContain('data.csv [');
    expect(last).toContain('50%');
    expect(last).toContain('100 MiB / 200 MiB');
    expect(last).toMatch(/100 MiB\/s/);
    expect(last).toContain('ETA 1s');
    expect(last.length).toBeLessThan(100);
    bar.done();
    expect(stream.out[stream.out.length - 1]).toBe('\n');
    bar.update(1, 1);
    expect(stream.out[stream.out.length - 1]).toBe('\n'); // nothing after done
  });

  it('without a TTY prints plain lines at a slow interval', () => {
    let t = 0;
    const stream = new FakeStream(false);
    const bar = new ProgressBar({ stream, now: () => t, lineIntervalMs: 1000 });
    for (let i = 0; i <= 50; i++) {
      t = i * 100;
      bar.update(i * 1000, null);
    }
    expect(stream.out.length).toBe(5);
    expect(stream.out.every((l) => l.endsWith('\n') && !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
    bar.done('saved');
    expect(stream.out[stream.out.length - 1]).toMatch(/48.8 KiB .* — saved\n$/);
  });

  it('is silent in silent mode, and adapts download phases', () => {
    const stream = new FakeStream(true);
    const bar = new ProgressBar({ stream, mode: 'silent' });
    bar.onDownloadProgress({ bytes: 10, total: 100, attempt: 1, resumedFrom: 0, phase: 'transfer' });
    bar.done();
    expect(stream.out).toEqual([]);
    const shown = new FakeStream(true);
    const bar2 = new ProgressBar({ stream: shown });
    bar2.onDownloadProgress({ bytes: 10, total: 100, attempt: 2, resumedFrom: 0, phase: 'waiting' });
    expect(shown.out[0]).toContain('retrying (attempt 2)');
  });
});
