/**
 * Cold start of `hedgerow start` (spawn to the "listening" log line, median of 5) and resident memory
 * when idle after start, read from /proc (what the OS charges the process).
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
    const starts: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const node = await startNode({ cwd: tmp.dir });
      starts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 3000)); // idle: background sampling has run once
      rss.push(rssMb(node.proc.pid!));
      await node.stop();
    }
    return {
      'cold start to listening, median of 5 (ms)': Math.round(median(starts)),
      'cold start, min (ms)': Math.round(Math.min(...starts)),
      'RSS idle 3 s after start, median (MB)': Math.round(median(rss) * 10) / 10,
    };
  } finally {
    tmp.cleanup();
  }
}
