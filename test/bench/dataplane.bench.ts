/**
 * Pull of a 1 GiB file over HTTPS on loopback: hedgerow's provider (serveAsset) against a baseline provider (a
 * minimal node:https server streaming the same file with `fs.createReadStream().pipe(res)`, same certificate),
 * both downloaded by the same client code (downloadToFile: hashing while writing, fsync, rename).
 *
 * Provider and consumer each run in their own child process, so each RSS is measured separately (sampled every
 * 50 ms with process.memoryUsage().rss; growth = peak − RSS when idle before the transfer, after a warm-up HEAD
 * request has set up TLS and undici's parser). "Growth after the first 256 MiB" shows whether memory grows
 * with the size moved (it should be ~0: a fixed working set, no buffering). Runs alternate baseline/hedgerow;
 * the best and the median of each are reported. The digest of the file is computed once by the provider
 * before the timed runs (as when an asset is registered; its cold cost is reported separately). The source file
 * is sparse (reads cost no disk I/O, for both providers alike); the consumer writes real bytes to disk.
 *
 * This module is also the child processes' entry point (HEDGEROW_BENCH_ROLE).
 */
import { localhostTls } from '../helpers/tls';
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { downloadToFile } from '../../src/dataplane/download';
import { DigestCache } from '../../src/dataplane/file-source';
import { serveAsset } from '../../src/dataplane/serve';

const GiB = 1024 ** 3;
const ROUNDS = Number(process.env.HEDGEROW_BENCH_ROUNDS ?? 5);

type Role = 'provider-hedgerow' | 'provider-baseline' | 'consumer';

interface ProviderReady {
  type: 'ready';
  port: number;
  /** ms to compute the SHA-256 of the file (hedgerow provider only; 0 for the baseline). */
  digestMs: number;
}
interface RssReport {
  type: 'rss';
  idle: number;
  peak: number;
}
interface ConsumerReport {
  type: 'done';
  bytes: number;
  seconds: number;
  sha256: string;
  idle: number;
  peak: number;
  /** Peak RSS seen until a quarter of the file had arrived: growth after it would be proportional to size. */
  peakAtQuarter: number;
}

/** Samples this process's RSS every 50 ms. */
function rssSampler() {
  let idle = process.memoryUsage().rss;
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  timer.unref();
  return {
    reset() {
      global.gc?.();
      idle = process.memoryUsage().rss;
      peak = idle;
    },
    read: () => ({ idle, peak: Math.max(peak, process.memoryUsage().rss) }),
    stop: () => clearInterval(timer),
  };
}

// ------------------------------------------------------------------------------------------------ children

async function provider(kind: 'hedgerow' | 'baseline'): Promise<void> {
  const env = process.env;
  const file = env.HEDGEROW_BENCH_FILE!;
  const tls = { key: fs.readFileSync(env.HEDGEROW_BENCH_KEY!), cert: fs.readFileSync(env.HEDGEROW_BENCH_CERT!) };
  let server: https.Server;
  let digestMs = 0;
  if (kind === 'baseline') {
    const size = fs.statSync(file).size;
    server = https.createServer(tls, (req, res) => {
      res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') return void res.end(); // the consumer's warm-up
      fs.createReadStream(file).pipe(res);
    });
  } else {
    const digests = new DigestCache();
    const dataRoot = path.dirname(file);
    const t0 = performance.now();
    await digests.sha256OfAsset(dataRoot, path.basename(file)); // as when the asset is registered
    digestMs = performance.now() - t0;
    server = https.createServer(tls, (req, res) => {
      serveAsset(req, res, { type: 'file', path: path.basename(file) }, { dataRoot, digests }).catch(() => res.destroy());
    });
  }
  await new Promise<void>((r) => server.listen(0, 'localhost', r));
  const rss = rssSampler();
  rss.reset();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'reset') rss.reset();
    if (m.type === 'rss') process.send!({ type: 'rss', ...rss.read() } satisfies RssReport);
    if (m.type === 'stop') {
      rss.stop();
      server.closeAllConnections();
      server.close(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port, digestMs } satisfies ProviderReady);
}

async function consumer(): Promise<void> {
  const env = process.env;
  const agent = new Agent({ connect: { ca: fs.readFileSync(env.HEDGEROW_BENCH_CA!) } });
  // Warm-up outside the measurement: TLS session, undici's HTTP parser (WebAssembly), lazily loaded modules.
  const warm = await request(env.HEDGEROW_BENCH_URL!, { method: 'HEAD', dispatcher: agent });
  await warm.body.dump();
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ type: 'warm' });
  await go;
  const rss = rssSampler();
  rss.reset();
  let peakAtQuarter = 0;
  const t0 = performance.now();
  const r = await downloadToFile({
    url: env.HEDGEROW_BENCH_URL!,
    out: env.HEDGEROW_BENCH_OUT!,
    dispatcher: agent,
    minFreeBytes: 0,
    retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
    onProgress: (p) => {
      if (!peakAtQuarter && p.total && p.bytes >= p.total / 4) peakAtQuarter = rss.read().peak;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const { idle, peak } = rss.read();
  rss.stop();
  await agent.close();
  process.send!({ type: 'done', bytes: r.bytes, seconds, sha256: r.sha256, idle, peak, peakAtQuarter } satisfies ConsumerReport, () => process.exit(0));
}

// ------------------------------------------------------------------------------------------------ parent

/** Fork this module in a role; under ts (jest, ts-node) with a tiny transpile-on-require hook. */
function spawnRole(role: Role, env: Record<string, string>, tmp: string): ChildProcess {
  const execArgv = ['--expose-gc'];
  if (__filename.endsWith('.ts')) {
    const hook = path.join(tmp, 'ts-hook.js');
    if (!fs.existsSync(hook)) {
      fs.writeFileSync(
        hook,
        `const fs = require('fs');
const ts = require(${JSON.stringify(require.resolve('typescript'))});
require.extensions['.ts'] = function (module, filename) {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  module._compile(out, filename);
};
`,
      );
    }
    execArgv.push('-r', hook);
  }
  return fork(__filename, [], { execArgv, env: { ...process.env, ...env, HEDGEROW_BENCH_ROLE: role }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T extends { type: string } = { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null) => reject(new Error(`bench child exited (${code}) before sending ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function makeTls(tmp: string): { key: string; cert: string; ca: string } {
  const identity = localhostTls();
  const files = { key: path.join(tmp, 'key.pem'), cert: path.join(tmp, 'cert.pem'), ca: path.join(tmp, 'ca.pem') };
  fs.writeFileSync(files.key, identity.key, { mode: 0o600 });
  fs.writeFileSync(files.cert, identity.cert);
  fs.writeFileSync(files.ca, identity.caPem);
  return files;
}

interface RunFigures {
  mbPerSecond: number;
  consumerGrowthMb: number;
  /** Consumer RSS growth after the first quarter of the file (≈ 0 when memory is flat). */
  consumerLateGrowthMb: number;
  providerGrowthMb: number;
  consumerPeakMb: number;
  providerPeakMb: number;
}

async function pull(providerChild: ChildProcess, port: number, env: Record<string, string>, tmp: string, expectBytes: number): Promise<RunFigures> {
  const out = path.join(tmp, 'download.bin');
  fs.rmSync(out, { force: true });
  const consumerChild = spawnRole('consumer', { ...env, HEDGEROW_BENCH_URL: `https://localhost:${port}/file.bin`, HEDGEROW_BENCH_OUT: out }, tmp);
  await nextMessage(consumerChild, 'warm');
  providerChild.send({ type: 'reset' });
  await new Promise((r) => setTimeout(r, 100));
  const finished = nextMessage<ConsumerReport>(consumerChild, 'done');
  consumerChild.send({ type: 'go' });
  const done = await finished;
  providerChild.send({ type: 'rss' });
  const prov = await nextMessage<RssReport>(providerChild, 'rss');
  fs.rmSync(out, { force: true });
  if (done.bytes !== expectBytes) throw new Error(`pulled ${done.bytes} bytes, expected ${expectBytes}`);
  return {
    mbPerSecond: done.bytes / 1e6 / done.seconds,
    consumerGrowthMb: (done.peak - done.idle) / 1e6,
    consumerLateGrowthMb: Math.max(0, done.peak - done.peakAtQuarter) / 1e6,
    providerGrowthMb: (prov.peak - prov.idle) / 1e6,
    consumerPeakMb: done.peak / 1e6,
    providerPeakMb: prov.peak / 1e6,
  };
}

export async function run(): Promise<Record<string, number>> {
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-bench-dp-')));
  const children: ChildProcess[] = [];
  try {
    const file = path.join(tmp, 'file.bin');
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, GiB);
    fs.writeSync(fd, 'hedgerow', GiB - 8);
    fs.closeSync(fd);
    const tls = makeTls(tmp);
    const env = { HEDGEROW_BENCH_FILE: file, HEDGEROW_BENCH_KEY: tls.key, HEDGEROW_BENCH_CERT: tls.cert, HEDGEROW_BENCH_CA: tls.ca };

    const start = async (role: 'provider-hedgerow' | 'provider-baseline') => {
      const child = spawnRole(role, env, tmp);
      children.push(child);
      return { child, ready: await nextMessage<ProviderReady>(child, 'ready') };
    };
    const hedgerow = await start('provider-hedgerow');
    const baseline = await start('provider-baseline');

    const runs: { hedgerow: RunFigures[]; baseline: RunFigures[] } = { hedgerow: [], baseline: [] };
    // Alternate which goes first, so drifting machine state (page cache, writeback) favours neither.
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? (['baseline', 'hedgerow'] as const) : (['hedgerow', 'baseline'] as const);
      for (const which of order) {
        const p = which === 'hedgerow' ? hedgerow : baseline;
        runs[which].push(await pull(p.child, p.ready.port, env, tmp, GiB));
        if (process.env.HEDGEROW_BENCH_VERBOSE) console.log(which, runs[which][runs[which].length - 1]);
      }
    }
    const best = (xs: RunFigures[]) => xs.reduce((a, b) => (b.mbPerSecond > a.mbPerSecond ? b : a));
    const worst = (xs: RunFigures[], k: keyof RunFigures) => Math.max(...xs.map((x) => x[k]));
    const median = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const h = best(runs.hedgerow);
    const b = best(runs.baseline);
    const r1 = (n: number) => Math.round(n * 10) / 10;
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    // Each round pulls through both providers back to back: the ratio within a round cancels most machine drift.
    const paired = runs.hedgerow.map((x, i) => x.mbPerSecond / runs.baseline[i]!.mbPerSecond);
    return {
      'hedgerow pull 1 GiB, best of rounds (MB/s)': r1(h.mbPerSecond),
      'baseline pull 1 GiB, best of rounds (MB/s)': r1(b.mbPerSecond),
      'hedgerow pull, median of rounds (MB/s)': r1(median(runs.hedgerow.map((x) => x.mbPerSecond))),
      'baseline pull, median of rounds (MB/s)': r1(median(runs.baseline.map((x) => x.mbPerSecond))),
      'throughput ratio hedgerow/baseline, median of paired rounds': r3(median(paired)),
      'throughput ratio hedgerow/baseline, best vs best': r3(h.mbPerSecond / b.mbPerSecond),
      'throughput ratio, worst paired round': r3(Math.min(...paired)),
      'hedgerow provider RSS growth, max over rounds (MB)': r1(worst(runs.hedgerow, 'providerGrowthMb')),
      'baseline provider RSS growth, max over rounds (MB)': r1(worst(runs.baseline, 'providerGrowthMb')),
      'consumer RSS growth (hedgerow runs), max (MB)': r1(worst(runs.hedgerow, 'consumerGrowthMb')),
      'consumer RSS growth (baseline runs), max (MB)': r1(worst(runs.baseline, 'consumerGrowthMb')),
      'consumer RSS growth after the first 256 MiB, max (MB)': r1(Math.max(worst(runs.hedgerow, 'consumerLateGrowthMb'), worst(runs.baseline, 'consumerLateGrowthMb'))),
      'hedgerow provider peak RSS (MB)': r1(worst(runs.hedgerow, 'providerPeakMb')),
      'consumer peak RSS (MB)': r1(Math.max(worst(runs.hedgerow, 'consumerPeakMb'), worst(runs.baseline, 'consumerPeakMb'))),
      'SHA-256 of 1 GiB on the provider, once per file version (ms)': Math.round(hedgerow.ready.digestMs),
      rounds: ROUNDS,
    };
  } finally {
    for (const c of children) {
      if (c.connected) c.send({ type: 'stop' });
    }
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const role = process.env.HEDGEROW_BENCH_ROLE as Role | undefined;
if (role) {
  const main = role === 'consumer' ? consumer() : provider(role === 'provider-hedgerow' ? 'hedgerow' : 'baseline');
  main.catch((err: unknown) => {
    console.error(`bench ${role}:`, err);
    process.exit(1);
  });
}
