import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The package root, found upwards (this file also runs compiled from .bench/ by the benchmarks). */
function packageRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'src'))) return d;
  }
  throw new Error(`no package root above ${dir}`);
}

export const ROOT = packageRoot(__dirname);
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** A temporary working directory, removed by `cleanup()`. */
export function tempDir(prefix = 'hedgerow-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for a child connector: only what it needs, never the developer's HEDGEROW_* settings. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test' };
  return { ...env, ...extra };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a hedgerow command to completion. */
export function runCli(args: string[], opts: { cwd: string; env?: Record<string, string>; input?: string }): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    encoding: 'utf8',
    input: opts.input,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningNode {
  proc: ChildProcess;
  publicUrl: string;
  publicPort: number;
  managementUrl: string;
  logs: string[];
  /** Send SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start `hedgerow start` and wait for its "hedgerow listening" log line. */
export function startNode(opts: { cwd: string; env?: Record<string, string>; args?: string[] }): Promise<RunningNode> {
  const proc = spawn(process.execPath, [CLI, 'start', ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: childEnv({
      HEDGEROW_PUBLIC_API_PORT: '0',
      HEDGEROW_MANAGEMENT_API_PORT: '0',
      HEDGEROW_PUBLIC_API_HOST: '127.0.0.1',
      HEDGEROW_LOG_FORMAT: 'json',
      ...opts.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exitCode === undefined) proc.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`connector did not start in time:\n${logs.join('\n')}`));
    }, 20_000);
    proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line);
          if (entry.msg === 'hedgerow listening') {
            clearTimeout(timer);
            resolve({
              proc,
              publicUrl: entry.publicUrl,
              publicPort: Number(String(entry.publicListener).split(':').pop()),
              managementUrl: entry.managementUrl,
              logs,
              stop,
            });
          }
        } catch {
          /* not JSON: init output */
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`connector exited with ${code} before listening:\n${logs.join('\n')}`));
    });
  });
}
