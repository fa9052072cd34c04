/**
 * The connector side of SHACL validation: one lazily started worker thread (shacl-worker.js) that keeps the prepared
 * shapes while it is used and is ended after `idleMs` without requests, so an idle connector holds no shapes. The
 * worker never keeps the process alive, and a validation that runs past `timeoutMs` ends the worker (a poison graph
 * cannot pin a CPU). The worker is the compiled JavaScript in dist/gaiax; under ts-jest that is the built copy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ShapesRelease } from './constants';
import type { ShaclReport } from './shacl-core';
import type { WorkerRequest, WorkerResponse } from './shacl-worker';

export type { ShaclReport, ShaclResult } from './shacl-core';

export function workerScript(): string {
  const beside = path.join(__dirname, 'shacl-worker.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'gaiax', 'shacl-worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`the SHACL worker ${built} is missing: run "npm run build"`);
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ShaclPoolOptions {
  /** End the worker (and free the shapes) after this long without requests. */
  idleMs?: number;
  /** Longest a single request may take, the first one (shapes preparation) included. */
  timeoutMs?: number;
}

export class ShaclPool {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly timeoutMs: number;

  constructor(opts: ShaclPoolOptions = {}) {
    this.idleMs = opts.idleMs ?? 300_000;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /**
   * Prepare the shapes of a release (parse, deduplicate, build the validator) ahead of the first validation.
   * `preparedNow` is false when the worker already held them.
   */
  warm(release: ShapesRelease): Promise<{ preparedNow: boolean }> {
    return this.call({ op: 'warm', release }) as Promise<{ preparedNow: boolean }>;
  }

  validate(release: ShapesRelease, documents: unknown[]): Promise<ShaclReport> {
    return this.call({ op: 'validate', release, documents }) as Promise<ShaclReport>;
  }

  /** True while a worker (with its prepared shapes) exists. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the SHACL worker was stopped'));
    if (worker) await worker.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(workerScript());
    worker.unref();
    worker.on('message', (msg: WorkerResponse) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
      this.settle();
    });
    const gone = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(err);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`the SHACL worker exited with code ${code}`)));
    return worker;
  }

  private call(req: WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never): Promise<unknown> {
    clearTimeout(this.idleTimer);
    this.worker ??= this.spawn();
    this.worker.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`SHACL validation took longer than ${this.timeoutMs} ms and was stopped`));
        void this.close();
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.worker!.postMessage({ ...req, id });
    });
  }

  /** After the last pending request: let the process exit without us, and schedule the idle shutdown. */
  private settle(): void {
    if (this.pending.size || !this.worker) return;
    this.worker.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}

let shared: ShaclPool | undefined;

/** The process-wide pool (one worker, shapes shared by the CLI, the management API and the benchmark). */
export function sharedShaclPool(opts?: ShaclPoolOptions): ShaclPool {
  shared ??= new ShaclPool(opts);
  return shared;
}
