/**
 * Transfer progress for the CLI (`hedgerow fetch`): a one-line bar (bytes done/total, rate, ETA) redrawn in
 * place on stderr when it is a terminal, at most ~10 times a second; plain periodic lines otherwise, or
 * nothing. Never writes to stdout (which may carry data).
 */
import type { DownloadProgress } from './download';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'silent';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** `auto` (default): bar on a TTY, lines otherwise. */
  mode?: ProgressMode;
  label?: string;
  /** Minimum time between two bar redraws. Default 100 ms. */
  redrawMs?: number;
  /** Time between two plain lines. Default 10 s. */
  lineIntervalMs?: number;
  /** Window over which the rate is averaged. Default 5 s. */
  rateWindowMs?: number;
  /** Clock in ms (tests). Default performance.now. */
  now?: () => number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[u]}`;
}

/** Seconds → "45s", "3m05s", "2h07m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly lineIntervalMs: number;
  private readonly rateWindowMs: number;
  private readonly samples: Array<{ t: number; bytes: number }> = [];
  private lastDraw = -Infinity;
  private lastLine: number;
  private bytes = 0;
  private total: number | null = null;
  private status = '';
  private drawn = false;
  private finished = false;

  constructor(private readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    const mode = opts.mode ?? 'auto';
    this.mode = mode === 'auto' ? (this.stream.isTTY ? 'bar' : 'lines') : mode;
    this.now = opts.now ?? (() => performance.now());
    this.redrawMs = opts.redrawMs ?? 100;
    this.lineIntervalMs = opts.lineIntervalMs ?? 10_000;
    this.rateWindowMs = opts.rateWindowMs ?? 5_000;
    this.lastLine = this.now();
  }

  /** Record progress; draws if it is time to. */
  update(bytes: number, total: number | null = this.total, status = ''): void {
    if (this.finished) return;
    const t = this.now();
    if (bytes < this.bytes) this.samples.length = 0; // restarted from 0
    this.bytes = bytes;
    this.total = total;
    this.status = status;
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.rateWindowMs) this.samples.shift();
    if (this.mode === 'bar' && t - this.lastDraw >= this.redrawMs) this.draw(t);
    else if (this.mode === 'lines' && t - this.lastLine >= this.lineIntervalMs) {
      this.lastLine = t;
      this.stream.write(`${this.describe(false)}\n`);
    }
  }

  /** An `onProgress` for downloadToFile. */
  readonly onDownloadProgress = (p: DownloadProgress): void => {
    const status = p.phase === 'rehash' ? 'checking the partial file' : p.phase === 'waiting' ? `connection lost, retrying (attempt ${p.attempt})` : p.phase === 'verify' ? 'verifying' : '';
    this.update(p.bytes, p.total, status);
  };

  /** Bytes per second over the recent window (0 until two samples). */
  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : 0;
  }

  /** Final state: the bar line is completed and ended with a newline, or one summary line is printed. */
  done(message?: string): void {
    this.end(message);
  }

  fail(message: string): void {
    this.end(message);
  }

  private end(message?: string): void {
    if (this.finished) return;
    if (this.mode === 'bar') {
      this.draw(this.now());
      this.stream.write(message ? `\n${message}\n` : '\n');
    } else if (this.mode === 'lines') {
      this.stream.write(`${this.describe(false)}${message ? ` — ${message}` : ''}\n`);
    }
    this.finished = true;
  }

  /** The text of one progress line (exported for tests through `line()`). */
  line(): string {
    return this.describe(this.mode === 'bar');
  }

  private describe(withBar: boolean): string {
    const label = this.opts.label ? `${this.opts.label} ` : '';
    const rate = this.rate();
    const parts: string[] = [];
    let bar = '';
    if (this.total !== null && this.total > 0) {
      const frac = Math.min(1, this.bytes / this.total);
      const pct = `${(frac * 100).toFixed(frac < 0.1 ? 1 : 0)}%`.padStart(5);
      parts.push(pct, `${formatBytes(this.bytes)} / ${formatBytes(this.total)}`);
      if (withBar) {
        const cols = this.stream.columns ?? 80;
        const width = Math.max(10, Math.min(40, cols - 70 - label.length));
        const full = Math.floor(frac * width);
        bar = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] `;
      }
    } else {
      parts.push(formatBytes(this.bytes));
    }
    parts.push(`${formatBytes(Math.round(rate))}/s`);
    if (this.total !== null && rate > 0 && this.bytes < this.total) parts.push(`ETA ${formatDuration((this.total - this.bytes) / rate)}`);
    if (this.status) parts.push(this.status);
    return `${label}${bar}${parts.join('  ')}`;
  }

  private draw(t: number): void {
    this.lastDraw = t;
    let text = this.describe(true);
    const cols = this.stream.columns;
    if (cols && text.length > cols - 1) text = text.slice(0, cols - 1);
    // \r back to column 0, ESC[K clears what a longer previous line left behind.
    this.stream.write(`\r${text}\x1b[K`);
    this.drawn = true;
  }

  /** Whether anything was drawn in bar mode (tests). */
  get hasDrawn(): boolean {
    return this.drawn;
  }
}
