import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The CLI entry point of this installation. */
export const CLI_PATH = path.resolve(__dirname, '..', 'cli', 'main.js');

export interface ConnectorProcess {
  proc: ChildProcess;
  publicUrl: string;
  publicPort: number;
  managementUrl: string;
  /** Every line the process wrote. */
  logs: string[];
  /** Signal it (SIGTERM by default) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Run `hedgerow start` as a child process and resolve once it logs "hedgerow listening" (JSON logs),
 * with the addresses it actually bound. Used by the demo and by the integration tests.
 */
export function spawnConnector(opts: { cwd: string; env: NodeJS.ProcessEnv; args?: string[]; cliPath?: string; startTimeoutMs?: number }): Promise<ConnectorProcess> {
  const proc = spawn(process.execPath, [opts.cliPath ?? CLI_PATH, 'start', ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { HEDGEROW_LOG_FORMAT: 'json', ...opts.env },
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
    }, opts.startTimeoutMs ?? 20_000);
    proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not JSON: output of an automatic init
        }
        if (entry.msg === 'hedgerow listening') {
          clearTimeout(timer);
          resolve({
            proc,
            publicUrl: entry.publicUrl as string,
            publicPort: Number(String(entry.publicListener).split(':').pop()),
            managementUrl: entry.managementUrl as string,
            logs,
            stop,
          });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`connector exited with ${code} before listening:\n${logs.join('\n')}`));
    });
  });
}
