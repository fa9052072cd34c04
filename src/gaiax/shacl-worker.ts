/**
 * Worker thread entry: holds the prepared SHACL validators and answers validation requests from shacl.ts. Running
 * here keeps the ESM-only validator, the ~1 s shapes preparation and the prepared shapes' memory off the connector's
 * main thread; the parent ends the worker after an idle period, which returns that memory.
 */
import { parentPort } from 'node:worker_threads';
import { isPrepared, prepare, validateDocuments } from './shacl-core';
import type { ShapesRelease } from './constants';

export type WorkerRequest =
  | { id: number; op: 'warm'; release: ShapesRelease }
  | { id: number; op: 'validate'; release: ShapesRelease; documents: unknown[] };

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

if (parentPort) {
  const port = parentPort;
  port.on('message', (req: WorkerRequest) => {
    const work =
      req.op === 'warm'
        ? ((preparedNow) => prepare(req.release).then(() => ({ preparedNow })))(!isPrepared(req.release))
        : validateDocuments(req.release, req.documents);
    work.then(
      (result) => port.postMessage({ id: req.id, ok: true, result } satisfies WorkerResponse),
      (err: unknown) => port.postMessage({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerResponse),
    );
  });
}
