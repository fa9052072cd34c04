import { spawnSync } from 'node:child_process';
import { spawnConnector, type ConnectorProcess } from '../../src/demo/node-process';
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

export type RunningNode = ConnectorProcess;

/** Start `hedgerow start` on free loopback ports and wait for its "hedgerow listening" log line. */
export function startNode(opts: { cwd: string; env?: Record<string, string>; args?: string[] }): Promise<RunningNode> {
  return spawnConnector({
    cwd: opts.cwd,
    cliPath: CLI,
    args: opts.args,
    env: childEnv({
      HEDGEROW_PUBLIC_API_PORT: '0',
      HEDGEROW_MANAGEMENT_API_PORT: '0',
      HEDGEROW_PUBLIC_API_HOST: '127.0.0.1',
      ...opts.env,
    }),
  });
}
