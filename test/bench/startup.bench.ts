/**
 * Cold start of `hedgerow start` (spawn to the "listening" log line, median of 5) and resident memory
 * 3 s after start and when idle (30 s after start), read from /proc (what the OS charges the process).
 */
import fs from 'node:fs';
import { runCli, startNode, tempDir } from '../helpers/cli';

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<Record<string, number>> {
  const tmp = tempDir('hedgerow-bench-start-');
  try {
    const init = runCli(['init', '--hostname', 'localhost'], { cwd: tmp.dir });
    if (init.status !== 0) throw new Error(init.stderr);
    const apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    const firstRequests: number[] = [];
    const starts: number[] = [];
    const rssEarly: number[] = [];
    const rssIdle: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const node = await startNode({ cwd: tmp.dir });
      starts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 3000)); // the first device-health sample has run
      rssEarly.push(rssMb(node.proc.pid!));
      // Idle: V8 collects and shrinks its heap once the process has been idle for several seconds
      // (its "memory reducer"); what an idle box keeps resident is the figure after that.
      if (i < 3) {
        await new Promise((r) => setTimeout(r, 27_000));
        rssIdle.push(rssMb(node.proc.pid!));
      }
      // The first API request builds the HTTP application (express is loaded then, not at start).
      const t1 = performance.now();
      const res = await fetch(`${node.managementUrl}/api/v1/assets`, { headers: { authorization: `Bearer ${apiKey}` } });
      await res.arrayBuffer();
      firstRequests.push(performance.now() - t1);
      await node.stop();
    }
    return {
      'cold start to listening, median of 5 (ms)': Math.round(median(starts)),
      'cold start, min (ms)': Math.round(Math.min(...starts)),
      'first API request after start, median of 5 (ms)': Math.round(median(firstRequests)),
      'RSS 3 s after start, median of 5 (MB)': Math.round(median(rssEarly) * 10) / 10,
      'RSS idle, 30 s after start, median of 3 (MB)': Math.round(median(rssIdle) * 10) / 10,
      'RSS idle, 30 s after start, max of 3 (MB)': Math.round(Math.max(...rssIdle) * 10) / 10,
    };
  } finally {
    tmp.cleanup();
  }
}
