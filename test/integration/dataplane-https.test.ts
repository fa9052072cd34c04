/**
 * The data plane over real HTTPS on loopback: serveAsset on the provider side, downloadToFile and pushAsset on
 * the consumer side, with a throwaway CA and server certificate from src/pki.
 */
import { localhostTls } from '../helpers/tls';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { Agent, request } from 'undici';
import { AddressGuard } from '../../src/net/address-guard';
import { HedgerowError } from '../../src/errors';
import { DigestCache } from '../../src/dataplane/file-source';
import { assetHandler, serveAsset, type ServeOptions, type ServeResult } from '../../src/dataplane/serve';
import { downloadToFile, partPaths, type DownloadOptions } from '../../src/dataplane/download';
import { pushAsset } from '../../src/dataplane/push';
import { DataPlaneError } from '../../src/dataplane/errors';
import type { AssetSource } from '../../src/store/repositories/assets';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const sha256File = (p: string) => sha256(fs.readFileSync(p));
const fastRetry = { attempts: 4, initialDelayMs: 10, maxDelayMs: 50 };
const openPolicy = { checkUrl: (raw: string) => new URL(raw) };

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Make `res` drop the connection once `n` body bytes have been written. */
function cutAfter(res: ServerResponse, n: number, onCut?: () => void): void {
  let sent = 0;
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  (res as unknown as { write: (...a: unknown[]) => boolean }).write = (chunk: unknown, ...rest: unknown[]) => {
    const len = (chunk as Buffer).length;
    if (sent + len >= n) {
      const keep = n - sent;
      sent = n;
      if (keep > 0) write((chunk as Buffer).subarray(0, keep));
      onCut?.();
      res.socket?.destroy();
      return false;
    }
    sent += len;
    return write(chunk, ...rest);
  };
}

/** Poll until `cond` holds (server-side bookkeeping may settle just after the client got the last byte). */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean; status?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('data plane over HTTPS on loopback', () => {
  let tmp: string;
  let root: string;
  let dl: string;
  let server: https.Server;
  let base: string;
  let agent: Agent;
  let caPem: string;
  let handler: Handler;
  const digests = new DigestCache();
  let seen: Array<{ url: string; range?: string; ifRange?: string; authorization?: string }>;
  let served: ServeResult[];
  let content: Buffer;
  const tls: { key?: string; cert?: string } = {};

  const serveOpts = (extra: Partial<ServeOptions> = {}): ServeOptions => ({ dataRoot: root, digests, ...extra });
  const serveFile = (req: IncomingMessage, res: ServerResponse, name: string, extra: Partial<ServeOptions> = {}) =>
    serveAsset(req, res, { type: 'file', path: name }, serveOpts(extra)).then((r) => {
      served.push(r);
      return r;
    });
  const opts = (name: string, extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
    url: `${base}/${name}`,
    out: path.join(dl, name),
    dispatcher: agent,
    minFreeBytes: 0,
    retry: fastRetry,
    ...extra,
  });
  const leftovers = (name: string) => {
    const { part, sidecar } = partPaths(path.join(dl, name));
    return { out: fs.existsSync(path.join(dl, name)), part: fs.existsSync(part), sidecar: fs.existsSync(sidecar) };
  };

  beforeAll(async () => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-dp-')));
    root = path.join(tmp, 'data');
    dl = path.join(tmp, 'downloads');
    fs.mkdirSync(root);
    fs.mkdirSync(dl);
    content = crypto.randomBytes(16 * MiB);
    fs.writeFileSync(path.join(root, 'field.bin'), content);

    const identity = localhostTls();
    caPem = identity.caPem;
    tls.key = identity.key;
    tls.cert = identity.cert;
    server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      seen.push({
        url: req.url!,
        ...(req.headers.range ? { range: req.headers.range } : {}),
        ...(req.headers['if-range'] ? { ifRange: req.headers['if-range'] as string } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      Promise.resolve(handler(req, res)).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(err instanceof HedgerowError ? err.httpStatus : 500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: (err as HedgerowError).code }));
        } else res.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, 'localhost', r));
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
    agent = new Agent({ connect: { ca: caPem } });
  });

  beforeEach(() => {
    seen = [];
    served = [];
    handler = (req, res) => serveFile(req, res, decodeURIComponent(new URL(req.url!, base).pathname.slice(1))).then(() => undefined);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('serveAsset', () => {
    it('answers 200 with length, ranges, strong ETag and whole-representation digests', async () => {
      const res = await request(`${base}/field.bin`, { dispatcher: agent });
      const body = Buffer.from(await res.body.arrayBuffer());
      const hex = sha256(content);
      expect(res.statusCode).toBe(200);
      expect(res.headers).toMatchObject({
        'accept-ranges': 'bytes',
        'content-length': String(content.length),
        etag: `"${hex}"`,
        'x-hedgerow-sha256': hex,
        'repr-digest': `sha-256=:${Buffer.from(hex, 'hex').toString('base64')}:`,
        'content-type': 'application/octet-stream',
        'cache-control': 'no-store',
      });
      expect(body.equals(content)).toBe(true);
      await until(() => served.length === 1);
      expect(served[0]).toMatchObject({ status: 200, complete: true, bytesSent: content.length, sha256: hex });
    });

    it('answers 206 for a single range, with the digest of the whole representation', async () => {
      const res = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: 'bytes=1000-1999' } });
      const body = Buffer.from(await res.body.arrayBuffer());
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes 1000-1999/${content.length}`);
      expect(res.headers['content-length']).toBe('1000');
      expect(res.headers['x-hedgerow-sha256']).toBe(sha256(content));
      expect(body.equals(content.subarray(1000, 2000))).toBe(true);
      const suffix = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: 'bytes=-10' } });
      expect(Buffer.from(await suffix.body.arrayBuffer()).equals(content.subarray(content.length - 10))).toBe(true);
    });

    it('answers 416 for an unsatisfiable range and 200 for multiple ranges', async () => {
      const res = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: `bytes=${content.length}-` } });
      await res.body.dump();
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${content.length}`);
      const multi = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: 'bytes=0-1,5-6' } });
      await multi.body.dump();
      expect(multi.statusCode).toBe(200);
      expect(multi.headers['content-length']).toBe(String(content.length));
    });

    it('applies the range only if If-Range matches the ETag', async () => {
      const etag = `"${sha256(content)}"`;
      const ok = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: 'bytes=10-19', 'if-range': etag } });
      await ok.body.dump();
      expect(ok.statusCode).toBe(206);
      const stale = await request(`${base}/field.bin`, { dispatcher: agent, headers: { range: 'bytes=10-19', 'if-range': '"0000"' } });
      await stale.body.dump();
      expect(stale.statusCode).toBe(200);
      expect(stale.headers['content-length']).toBe(String(content.length));
    });

    it('cuts the response when the caller aborts (transfer suspended mid-stream)', async () => {
      const ac = new AbortController();
      const done = new Promise<ServeResult>((resolve) => {
        handler = (req, res) => serveFile(req, res, 'field.bin', { bandwidth: 8 * MiB, signal: ac.signal }).then(resolve);
      });
      const res = await request(`${base}/field.bin`, { dispatcher: agent });
      setTimeout(() => ac.abort(), 100);
      await expect(res.body.arrayBuffer()).rejects.toThrow();
      expect(await done).toMatchObject({ status: 200, complete: false, aborted: 'signal' });
    });

    it('serves an empty file', async () => {
      fs.writeFileSync(path.join(root, 'empty.bin'), '');
      const res = await request(`${base}/empty.bin`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe('0');
      expect(await res.body.text()).toBe('');
      const r = await downloadToFile(opts('empty.bin'));
      expect(r).toMatchObject({ bytes: 0, sha256: sha256(Buffer.alloc(0)), verifiedAgainst: 'server' });
      expect(fs.statSync(path.join(dl, 'empty.bin')).size).toBe(0);
    });

    it('answers HEAD without a body', async () => {
      const res = await request(`${base}/field.bin`, { dispatcher: agent, method: 'HEAD' });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(content.length));
      expect(res.headers['x-hedgerow-sha256']).toBe(sha256(content));
    });

    it('refuses traversal and missing files with typed errors before writing anything', async () => {
      fs.writeFileSync(path.join(tmp, 'secret.txt'), 'secret');
      fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(root, 'link-out'));
      for (const [p, status, code] of [
        ['..%2Fsecret.txt', 403, 'PATH_OUTSIDE_ROOT'],
        ['link-out', 403, 'PATH_OUTSIDE_ROOT'],
        [encodeURIComponent(path.join(tmp, 'secret.txt')), 403, 'PATH_OUTSIDE_ROOT'],
        ['missing.bin', 404, 'SOURCE_NOT_FOUND'],
      ] as const) {
        const res = await request(`${base}/${p}`, { dispatcher: agent });
        expect(res.statusCode).toBe(status);
        expect(await res.body.json()).toEqual({ code });
      }
    });

    it('cleans up when the client goes away mid-stream', async () => {
      const big = crypto.randomBytes(32 * MiB);
      fs.writeFileSync(path.join(root, 'big.bin'), big);
      const done = new Promise<ServeResult>((resolve) => {
        handler = (req, res) => serveFile(req, res, 'big.bin', { bandwidth: 16 * MiB }).then(resolve);
      });
      const fdsBefore = fs.readdirSync('/proc/self/fd').length;
      const ac = new AbortController();
      const res = await request(`${base}/big.bin`, { dispatcher: agent, signal: ac.signal });
      let got = 0;
      await new Promise<void>((resolve) => {
        res.body.on('data', (c: Buffer) => {
          got += c.length;
          if (got > 2 * MiB) {
            ac.abort();
            resolve();
          }
        });
      });
      res.body.on('error', () => undefined);
      const result = await done;
      expect(result).toMatchObject({ status: 200, complete: false, aborted: 'client' });
      expect(result.bytesSent).toBeLessThan(big.length);
      expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore + 1); // the file handle is closed
    });

    it('caps bandwidth approximately (4 MiB at 8 MiB/s ≈ 0.45 s)', async () => {
      fs.writeFileSync(path.join(root, 'four.bin'), content.subarray(0, 4 * MiB));
      await digests.sha256OfAsset(root, 'four.bin'); // time the transfer, not the hashing
      handler = (req, res) => serveFile(req, res, 'four.bin', { bandwidth: 8 * MiB }).then(() => undefined);
      const started = performance.now();
      const res = await request(`${base}/four.bin`, { dispatcher: agent });
      expect(Buffer.from(await res.body.arrayBuffer()).length).toBe(4 * MiB);
      const seconds = (performance.now() - started) / 1000;
      const ideal = (4 * MiB - 0.8 * MiB) / (8 * MiB); // the bucket starts full (100 ms worth)
      expect(seconds).toBeGreaterThan(ideal * 0.9);
      expect(seconds).toBeLessThan(ideal * 3 + 0.5); // generous: CI machines run other suites in parallel
    });
  });

  describe('downloadToFile', () => {
    it('downloads, verifies against the announced digest, and leaves no temporary files', async () => {
      const progress: number[] = [];
      const r = await downloadToFile(opts('field.bin', { onProgress: (p) => progress.push(p.bytes) }));
      expect(r).toMatchObject({ bytes: content.length, sha256: sha256(content), resumed: 0, attempts: 1, verifiedAgainst: 'server' });
      expect(r.seconds).toBeGreaterThan(0);
      expect(sha256File(path.join(dl, 'field.bin'))).toBe(sha256(content));
      expect(leftovers('field.bin')).toEqual({ out: true, part: false, sidecar: false });
      expect(progress[progress.length - 1]).toBe(content.length);
    });

    it('resumes an interrupted download with Range + If-Range and gets the exact digest', async () => {
      let requests = 0;
      let partSeenAtCut = -1;
      handler = (req, res) => {
        requests++;
        if (requests === 1) cutAfter(res, 5 * MiB + 123);
        if (requests === 2) partSeenAtCut = fs.statSync(partPaths(path.join(dl, 'resume.bin')).part).size;
        return serveFile(req, res, 'field.bin').then(() => undefined);
      };
      const r = await downloadToFile(opts('resume.bin', { url: `${base}/field.bin`, out: path.join(dl, 'resume.bin') }));
      expect(r.sha256).toBe(sha256(content));
      expect(r.resumed).toBe(1);
      expect(r.attempts).toBe(2);
      expect(sha256File(path.join(dl, 'resume.bin'))).toBe(sha256(content));
      expect(seen[1]!.range).toBe(`bytes=${partSeenAtCut}-`);
      expect(seen[1]!.ifRange).toBe(`"${sha256(content)}"`);
      expect(partSeenAtCut).toBeGreaterThan(0);
      expect(partSeenAtCut).toBeLessThanOrEqual(5 * MiB + 123);
      await until(() => served.length === 2);
      expect(served[1]).toMatchObject({ status: 206, complete: true, range: { start: partSeenAtCut, end: content.length - 1 } });
      expect(leftovers('resume.bin')).toEqual({ out: true, part: false, sidecar: false });
    });

    it('resumes across processes from the .part and its sidecar (re-hashing the prefix)', async () => {
      handler = (req, res) => {
        cutAfter(res, 3 * MiB);
        return serveFile(req, res, 'field.bin').then(() => undefined);
      };
      const first = await rejection(downloadToFile(opts('xproc.bin', { url: `${base}/field.bin`, retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 } })));
      expect(first).toBeInstanceOf(DataPlaneError);
      expect(['DOWNLOAD_UNREACHABLE', 'DOWNLOAD_PROTOCOL']).toContain(first.code);
      expect(first.retryable).toBe(true);
      expect(leftovers('xproc.bin')).toEqual({ out: false, part: true, sidecar: true });
      const sidecar = JSON.parse(fs.readFileSync(partPaths(path.join(dl, 'xproc.bin')).sidecar, 'utf8'));
      expect(sidecar).toMatchObject({ version: 1, url: `${base}/field.bin`, etag: `"${sha256(content)}"`, totalBytes: content.length });
      expect(JSON.stringify(sidecar)).not.toMatch(/authorization|bearer/i);
      const partSize = fs.statSync(partPaths(path.join(dl, 'xproc.bin')).part).size;

      handler = (req, res) => serveFile(req, res, 'field.bin').then(() => undefined);
      seen = [];
      const phases = new Set<string>();
      const r = await downloadToFile(opts('xproc.bin', { url: `${base}/field.bin`, onProgress: (p) => phases.add(p.phase) }));
      expect(r).toMatchObject({ sha256: sha256(content), resumed: 1, attempts: 1 });
      expect(seen[0]!.range).toBe(`bytes=${partSize}-`);
      expect(phases.has('rehash')).toBe(true);
      expect(leftovers('xproc.bin')).toEqual({ out: true, part: false, sidecar: false });
    });

    it('finishes a .part that is already complete (crash before the rename): 416 → verify → rename', async () => {
      const out = path.join(dl, 'complete.bin');
      const { part, sidecar } = partPaths(out);
      fs.writeFileSync(part, content);
      fs.writeFileSync(
        sidecar,
        JSON.stringify({ version: 1, url: `${base}/field.bin`, etag: `"${sha256(content)}"`, lastModified: null, expectedSha256: null, serverSha256: sha256(content), totalBytes: content.length, updatedAt: '' }),
      );
      const r = await downloadToFile(opts('field.bin', { out }));
      expect(seen[0]!.range).toBe(`bytes=${content.length}-`);
      expect(r).toMatchObject({ bytes: content.length, sha256: sha256(content), attempts: 1, verifiedAgainst: 'server' });
      expect(leftovers('complete.bin')).toEqual({ out: true, part: false, sidecar: false });
    });

    it('does not trust a .part without a sidecar (starts over)', async () => {
      const out = path.join(dl, 'orphan.bin');
      fs.writeFileSync(partPaths(out).part, Buffer.alloc(1 * MiB, 9));
      const r = await downloadToFile(opts('field.bin', { out }));
      expect(seen[0]!.range).toBeUndefined();
      expect(r).toMatchObject({ sha256: sha256(content), resumed: 0 });
    });

    it('restarts from 0 when the ETag changed between attempts (server answers 200 to If-Range)', async () => {
      const v1 = crypto.randomBytes(6 * MiB);
      const v2 = crypto.randomBytes(7 * MiB);
      fs.writeFileSync(path.join(root, 'changing.bin'), v1);
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (requests === 1) {
          cutAfter(res, 2 * MiB, () => {
            // A new version is published (atomically) while the consumer is disconnected.
            fs.writeFileSync(path.join(root, 'changing.bin.tmp'), v2);
            fs.renameSync(path.join(root, 'changing.bin.tmp'), path.join(root, 'changing.bin'));
          });
        }
        return serveFile(req, res, 'changing.bin').then(() => undefined);
      };
      const r = await downloadToFile(opts('changing.bin'));
      expect(seen[1]!.ifRange).toBe(`"${sha256(v1)}"`);
      await until(() => served.length === 2);
      expect(served[1]!.status).toBe(200);
      expect(r).toMatchObject({ bytes: v2.length, sha256: sha256(v2), resumed: 0, attempts: 2 });
      expect(sha256File(path.join(dl, 'changing.bin'))).toBe(sha256(v2));
    });

    it('digest mismatch: fails with DIGEST_MISMATCH and leaves nothing at out (caller expectation)', async () => {
      const wrong = 'a'.repeat(64);
      const err = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'mismatch1.bin'), expectedSha256: wrong })));
      expect(err).toBeInstanceOf(DataPlaneError);
      expect(err.code).toBe('DIGEST_MISMATCH');
      expect(leftovers('mismatch1.bin')).toEqual({ out: false, part: false, sidecar: false });
    });

    it('digest mismatch after the whole body (a provider announcing a wrong digest): nothing at out', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-length': String(content.length), 'x-hedgerow-sha256': 'b'.repeat(64), etag: '"x"' });
        res.end(content);
      };
      const err = await rejection(downloadToFile(opts('mismatch2.bin')));
      expect(err.code).toBe('DIGEST_MISMATCH');
      expect(err.message).toContain(sha256(content));
      expect(leftovers('mismatch2.bin')).toEqual({ out: false, part: false, sidecar: false });
    });

    it('a corrupted resume (the server splices different bytes) is caught by the digest: nothing at out', async () => {
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (requests === 1) {
          cutAfter(res, 1 * MiB);
          return serveFile(req, res, 'field.bin').then(() => undefined);
        }
        // A broken server: honours the range but serves garbage, with the right headers.
        const start = Number(/bytes=(\d+)-/.exec(req.headers.range!)![1]);
        res.writeHead(206, {
          'content-range': `bytes ${start}-${content.length - 1}/${content.length}`,
          'content-length': String(content.length - start),
          etag: `"${sha256(content)}"`,
          'x-hedgerow-sha256': sha256(content),
        });
        res.end(Buffer.alloc(content.length - start, 1));
      };
      const err = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'spliced.bin') })));
      expect(err.code).toBe('DIGEST_MISMATCH');
      expect(leftovers('spliced.bin')).toEqual({ out: false, part: false, sidecar: false });
    });

    it('refuses to start when free disk minus the remaining bytes would fall below the floor', async () => {
      const freeBytes = () => 100 * MiB;
      const err = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'floor.bin'), freeBytes, minFreeBytes: 90 * MiB })));
      expect(err).toBeInstanceOf(DataPlaneError);
      expect(err.code).toBe('DISK_FLOOR');
      expect((err as DataPlaneError).details).toMatchObject({ freeBytes: 100 * MiB, remainingBytes: content.length, minFreeBytes: 90 * MiB });
      expect(fs.existsSync(path.join(dl, 'floor.bin'))).toBe(false);
      expect(fs.statSync(partPaths(path.join(dl, 'floor.bin')).part).size).toBe(0); // nothing written
      // With enough room it goes through.
      const ok = await downloadToFile(opts('field.bin', { out: path.join(dl, 'floor.bin'), freeBytes, minFreeBytes: 80 * MiB }));
      expect(ok.sha256).toBe(sha256(content));
      // Real statfs: a floor above any disk refuses.
      const real = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'floor2.bin'), minFreeBytes: Number.MAX_SAFE_INTEGER })));
      expect(real.code).toBe('DISK_FLOOR');
    });

    it('refuses a resume when the disk filled up meanwhile (checked before each resume)', async () => {
      let free = 1000 * MiB;
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (requests === 1) cutAfter(res, 4 * MiB, () => (free = 20 * MiB));
        return serveFile(req, res, 'field.bin').then(() => undefined);
      };
      const err = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'floor3.bin'), freeBytes: () => free, minFreeBytes: 10 * MiB })));
      expect(err.code).toBe('DISK_FLOOR');
      expect(requests).toBe(1);
      expect(leftovers('floor3.bin')).toMatchObject({ out: false, part: true });
    });

    it('calls the headers function before every attempt (token refresh)', async () => {
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (req.headers.authorization !== `Bearer token-${requests}`) {
          res.writeHead(401).end();
          return;
        }
        if (requests === 1) cutAfter(res, 2 * MiB);
        return serveFile(req, res, 'field.bin').then(() => undefined);
      };
      let calls = 0;
      const r = await downloadToFile(opts('field.bin', { out: path.join(dl, 'token.bin'), headers: async () => ({ Authorization: `Bearer token-${++calls}` }) }));
      expect(r.sha256).toBe(sha256(content));
      expect(calls).toBe(2);
      expect(seen.map((s) => s.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    });

    it('retries 503 (honouring Retry-After), gives up on 404 at once', async () => {
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (requests === 1) {
          res.writeHead(503, { 'retry-after': '0' }).end();
          return;
        }
        return serveFile(req, res, 'field.bin').then(() => undefined);
      };
      const r = await downloadToFile(opts('field.bin', { out: path.join(dl, 'r503.bin') }));
      expect(r.attempts).toBe(2);

      handler = (_req, res) => void res.writeHead(404).end();
      seen = [];
      const err = await rejection(downloadToFile(opts('field.bin', { out: path.join(dl, 'r404.bin') })));
      expect(err).toMatchObject({ code: 'DOWNLOAD_STATUS', status: 404, retryable: false });
      expect(seen).toHaveLength(1);
      expect(leftovers('r404.bin').out).toBe(false);
    });

    it('gives up after the configured attempts when the provider is down', async () => {
      const err = await rejection(downloadToFile(opts('x', { url: 'https://localhost:1/x', out: path.join(dl, 'down.bin') })));
      expect(err).toMatchObject({ code: 'DOWNLOAD_UNREACHABLE', retryable: true });
      expect(err.message).toMatch(/ECONNREFUSED/);
    });

    it('abort keeps the .part for a later resume and never shows a file at out', async () => {
      const ac = new AbortController();
      handler = (req, res) => serveFile(req, res, 'field.bin', { bandwidth: 8 * MiB }).then(() => undefined);
      const err = await rejection(
        downloadToFile(opts('field.bin', { out: path.join(dl, 'abort.bin'), signal: ac.signal, onProgress: (p) => p.bytes > 1 * MiB && ac.abort() })),
      );
      expect(err.code).toBe('ABORTED');
      expect(leftovers('abort.bin')).toEqual({ out: false, part: true, sidecar: true });
      handler = (req, res) => serveFile(req, res, 'field.bin').then(() => undefined);
      const r = await downloadToFile(opts('field.bin', { out: path.join(dl, 'abort.bin') }));
      expect(r).toMatchObject({ sha256: sha256(content), resumed: 1 });
    });

    it('caps its own download bandwidth approximately', async () => {
      await digests.sha256OfAsset(root, 'four.bin');
      const started = performance.now();
      const r = await downloadToFile(opts('four.bin', { out: path.join(dl, 'capped.bin'), bandwidthBytesPerSecond: 8 * MiB }));
      const seconds = (performance.now() - started) / 1000;
      expect(r.bytes).toBe(4 * MiB);
      const ideal = (4 * MiB - 0.8 * MiB) / (8 * MiB);
      expect(seconds).toBeGreaterThan(ideal * 0.9);
      expect(seconds).toBeLessThan(ideal * 3 + 0.5); // generous: CI machines run other suites in parallel
    });

    it('works through an express app (assetHandler, errors via next)', async () => {
      const app = express();
      app.get(
        '/data/:name',
        assetHandler(async (req) => ({ source: { type: 'file', path: (req as express.Request).params.name as string } }), serveOpts()),
      );
      app.use((err: HedgerowError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(err.httpStatus ?? 500).json({ code: err.code });
      });
      const srv = https.createServer({ key: tls.key!, cert: tls.cert! }, app);
      await new Promise<void>((r) => srv.listen(0, 'localhost', r));
      const url = `https://localhost:${(srv.address() as AddressInfo).port}`;
      try {
        const r = await downloadToFile(opts('field.bin', { url: `${url}/data/field.bin`, out: path.join(dl, 'express.bin') }));
        expect(r.sha256).toBe(sha256(content));
        const bad = await request(`${url}/data/..%2F..%2Fetc%2Fpasswd`, { dispatcher: agent });
        expect(bad.statusCode).toBe(403);
        expect(await bad.body.json()).toEqual({ code: 'PATH_OUTSIDE_ROOT' });
      } finally {
        srv.closeAllConnections();
        await new Promise((r) => srv.close(r));
      }
    });
  });

  describe('HTTP backend sources', () => {
    let backend: http.Server;
    let backendUrl: string;
    let backendMode: 'ranges' | 'no-ranges' | 'error' | 'slow' | 'cut';
    let backendSaw: Array<{ range?: string; key?: string }>;

    beforeAll(async () => {
      // A plain-HTTP object store on loopback that wants an API key: the provider adds it, the consumer never sees it.
      backend = http.createServer((req, res) => {
        backendSaw.push({ ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers['x-api-key'] ? { key: req.headers['x-api-key'] as string } : {}) });
        if (req.headers['x-api-key'] !== 's3cret') return void res.writeHead(403).end();
        if (backendMode === 'error') return void res.writeHead(500).end('boom');
        if (backendMode === 'slow') return; // never answers
        const etag = '"backend-v1"';
        const m = backendMode === 'ranges' && req.headers.range ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range) : null;
        if (m) {
          const start = Number(m[1]);
          const end = m[2] ? Number(m[2]) : content.length - 1;
          res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${content.length}`, 'content-length': String(end - start + 1), etag, 'accept-ranges': 'bytes', 'x-backend-secret': 'internal' });
          return void res.end(content.subarray(start, end + 1));
        }
        res.writeHead(200, { 'content-length': String(content.length), etag, 'content-type': 'text/csv', 'x-backend-secret': 'internal' });
        if (backendMode === 'cut') {
          res.write(content.subarray(0, 3 * MiB));
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        res.end(content);
      });
      await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
      backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/objects/field.bin?X-Amz-Signature=topsecret`;
    });
    afterAll(async () => {
      backend.closeAllConnections();
      await new Promise((r) => backend.close(r));
    });
    beforeEach(() => {
      backendSaw = [];
      backendMode = 'ranges';
    });

    const httpSource = (): AssetSource => ({ type: 'http', url: backendUrl, headers: { 'x-api-key': 's3cret' } });
    const serveBackend = (extra: Partial<ServeOptions> = {}): Handler => (req, res) =>
      serveAsset(req, res, httpSource(), { backend: { policy: openPolicy, timeoutMs: 500 }, ...extra }).then((r) => void served.push(r));

    it('streams from the backend with the provider-side credentials, passing Range through', async () => {
      handler = serveBackend();
      const full = await request(`${base}/b`, { dispatcher: agent });
      const body = Buffer.from(await full.body.arrayBuffer());
      expect(full.statusCode).toBe(200);
      expect(body.equals(content)).toBe(true);
      expect(full.headers['content-type']).toBe('text/csv');
      expect(full.headers.etag).toBe('"backend-v1"');
      expect(full.headers['x-backend-secret']).toBeUndefined();
      expect(JSON.stringify(full.headers)).not.toContain('s3cret');
      const part = await request(`${base}/b`, { dispatcher: agent, headers: { range: 'bytes=100-199' } });
      expect(part.statusCode).toBe(206);
      expect(Buffer.from(await part.body.arrayBuffer()).equals(content.subarray(100, 200))).toBe(true);
      expect(backendSaw).toEqual([{ key: 's3cret' }, { key: 's3cret', range: 'bytes=100-199' }]);
    });

    it('emulates ranges when the backend ignores them, so resumes still work', async () => {
      backendMode = 'no-ranges';
      handler = serveBackend();
      const part = await request(`${base}/b`, { dispatcher: agent, headers: { range: 'bytes=1000-' } });
      const body = Buffer.from(await part.body.arrayBuffer());
      expect(part.statusCode).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 1000-${content.length - 1}/${content.length}`);
      expect(body.equals(content.subarray(1000))).toBe(true);
      const stale = await request(`${base}/b`, { dispatcher: agent, headers: { range: 'bytes=1000-', 'if-range': '"other"' } });
      expect(Buffer.from(await stale.body.arrayBuffer()).equals(content)).toBe(true);
      expect(stale.statusCode).toBe(200);
    });

    it('a consumer download through a backend source resumes after a cut', async () => {
      backendMode = 'ranges';
      let requests = 0;
      handler = (req, res) => {
        requests++;
        if (requests === 1) cutAfter(res, 4 * MiB);
        return serveBackend()(req, res);
      };
      const r = await downloadToFile(opts('b', { out: path.join(dl, 'backend.bin'), expectedSha256: sha256(content) }));
      expect(r).toMatchObject({ sha256: sha256(content), resumed: 1, verifiedAgainst: 'expected' });
    });

    it('maps backend failures to typed errors with a clear reason, never leaking the URL query or credentials', async () => {
      const failures: unknown[] = [];
      const run = async (mode: typeof backendMode, url = backendUrl) => {
        backendMode = mode;
        handler = (req, res) =>
          serveAsset(req, res, { type: 'http', url, headers: { 'x-api-key': 's3cret' } }, { backend: { policy: openPolicy, timeoutMs: 300 } }).then(
            () => undefined,
            (err: unknown) => {
              failures.push(err);
              throw err;
            },
          );
        const res = await request(`${base}/b`, { dispatcher: agent });
        const text = await res.body.text();
        expect(text).not.toContain('s3cret');
        return res.statusCode;
      };
      expect(await run('error')).toBe(502);
      expect(await run('slow')).toBe(504);
      expect(await run('ranges', 'http://127.0.0.1:1/x')).toBe(502);
      expect(failures.map((e) => (e as DataPlaneError).code)).toEqual(['BACKEND_STATUS', 'BACKEND_TIMEOUT', 'BACKEND_UNREACHABLE']);
      expect(failures.map((e) => (e as DataPlaneError).retryable)).toEqual([true, true, true]);
      for (const e of failures as DataPlaneError[]) {
        expect(e.reason).toMatch(/^BACKEND_/);
        expect(e.message).not.toContain('topsecret');
        expect(e.message).not.toContain('127.0.0.1');
        expect(JSON.stringify(e.details ?? {})).not.toContain('127.0.0.1');
      }
      expect((failures[0] as DataPlaneError).internal).toBe(backendUrl.replace(/\?.*/, ''));
    });

    it('a backend that breaks mid-stream cuts the response and reports BACKEND_STREAM_FAILED', async () => {
      backendMode = 'cut';
      let failure: unknown;
      handler = (req, res) =>
        serveAsset(req, res, httpSource(), { backend: { policy: openPolicy } }).then(
          () => undefined,
          (err: unknown) => {
            failure = err;
            expect(res.headersSent).toBe(true);
          },
        );
      const res = await request(`${base}/b`, { dispatcher: agent });
      await expect(res.body.arrayBuffer()).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 50));
      expect(failure).toBeInstanceOf(DataPlaneError);
      expect((failure as DataPlaneError).code).toBe('BACKEND_STREAM_FAILED');
    });

    it('checks backend URLs with the caller policy (AddressGuard refuses loopback and plain http)', async () => {
      const guard = new AddressGuard({ allow: [] });
      let failure: unknown;
      handler = (req, res) =>
        serveAsset(req, res, { type: 'http', url: 'https://127.0.0.1:9/x' }, { backend: { policy: guard } }).then(() => undefined, (err: unknown) => {
          failure = err;
          throw err;
        });
      const res = await request(`${base}/b`, { dispatcher: agent });
      await res.body.dump();
      expect(res.statusCode).toBe(403);
      expect((failure as HedgerowError).code).toBe('ADDRESS_FORBIDDEN');
    });
  });

  describe('push', () => {
    let receiver: https.Server;
    let receiverUrl: string;
    let received: Array<{ method: string; authorization?: string; sha256: string; bytes: number; announced?: string; length?: string }>;
    let receiverStatus: number;

    beforeAll(async () => {
      receiver = https.createServer({ key: tls.key!, cert: tls.cert! }, (req, res) => {
        const hash = crypto.createHash('sha256');
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        req.on('end', () => {
          received.push({
            method: req.method!,
            ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
            sha256: hash.digest('hex'),
            bytes,
            ...(req.headers['x-hedgerow-sha256'] ? { announced: req.headers['x-hedgerow-sha256'] as string } : {}),
            ...(req.headers['content-length'] ? { length: req.headers['content-length'] } : {}),
          });
          res.writeHead(receiverStatus).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, 'localhost', r));
      receiverUrl = `https://localhost:${(receiver.address() as AddressInfo).port}/incoming/field.bin`;
    });
    afterAll(async () => {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    });
    beforeEach(() => {
      received = [];
      receiverStatus = 201;
    });

    it('streams a file source with PUT and the given authorization, announcing size and digest', async () => {
      const r = await pushAsset({ type: 'file', path: 'field.bin' }, { url: receiverUrl, authorization: 'Bearer push-token', dispatcher: agent, dataRoot: root, digests });
      expect(r).toMatchObject({ bytes: content.length, sha256: sha256(content), status: 201 });
      expect(received).toEqual([
        { method: 'PUT', authorization: 'Bearer push-token', sha256: sha256(content), bytes: content.length, announced: sha256(content), length: String(content.length) },
      ]);
    });

    it('pushes an HTTP backend source with POST', async () => {
      const backend = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.end(content.subarray(0, 1 * MiB)); // chunked: no size announced
      });
      await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
      try {
        const src: AssetSource = { type: 'http', url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/x` };
        const r = await pushAsset(src, { url: receiverUrl, method: 'POST', dispatcher: agent, backend: { policy: openPolicy } });
        expect(r).toMatchObject({ bytes: 1 * MiB, sha256: sha256(content.subarray(0, 1 * MiB)) });
        expect(received[0]).toMatchObject({ method: 'POST', bytes: 1 * MiB });
      } finally {
        backend.closeAllConnections();
        await new Promise((r) => backend.close(r));
      }
    });

    it('fails with typed errors: destination status, unreachable, refused by the SSRF policy', async () => {
      receiverStatus = 507;
      const status = await rejection(pushAsset({ type: 'file', path: 'field.bin' }, { url: receiverUrl, dispatcher: agent, dataRoot: root, digests }));
      expect(status).toMatchObject({ code: 'PUSH_STATUS', status: 507, retryable: true });
      const down = await rejection(pushAsset({ type: 'file', path: 'field.bin' }, { url: 'https://localhost:1/x', dispatcher: agent, dataRoot: root, digests }));
      expect(down).toMatchObject({ code: 'PUSH_UNREACHABLE', retryable: true });
      const guard = new AddressGuard({ allow: [] });
      const refused = await rejection(
        pushAsset({ type: 'file', path: 'field.bin' }, { url: receiverUrl, policy: guard, dispatcher: new Agent({ connect: { ca: caPem, lookup: guard.lookup() } }), dataRoot: root, digests }),
      );
      expect(refused.code).toBe('ADDRESS_FORBIDDEN');
      // With the guard's lookup only (the URL check skipped), the connection is refused at resolution time.
      const atLookup = await rejection(
        pushAsset({ type: 'file', path: 'field.bin' }, { url: receiverUrl, dispatcher: new Agent({ connect: { ca: caPem, lookup: guard.lookup() } }), dataRoot: root, digests }),
      );
      expect(atLookup.code).toBe('ADDRESS_FORBIDDEN');
    });
  });
});
