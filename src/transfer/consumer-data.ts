import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Store } from '../store/store';
import type { Transfer } from '../store/repositories/transfers';
import type { Logger } from '../log/logger';
import type { DspClient } from '../protocol/dsp/client';
import type { AddressGuard } from '../net/address-guard';
import { downloadToFile, type DownloadResult } from '../dataplane';
import { ConflictError, HedgerowError, NotFoundError, ValidationError } from '../errors';
import { undiciLib } from '../lazy';
import { PULL, type TransferService } from './transfer-service';

type Json = Record<string, unknown>;

/** The parts of a pull DataAddress a downloader needs. The token is a secret: only for the local operator. */
export interface PullTarget {
  endpoint: string;
  authorization: string;
  sha256: string | null;
  size: number | null;
  /** Token expiry, epoch seconds (decoded, not verified: only the provider verifies it). */
  expiresAt: number | null;
}

/** Refresh a token this long before it expires. */
const REFRESH_MARGIN_SECONDS = 60;

/** What a header value may hold (visible ASCII and spaces): a token with CR or LF would be refused by undici later. */
const HEADER_VALUE = /^[\x20-\x7e]{1,8192}$/;

/** The pull target in a DataAddress from the provider (a TransferStartMessage, or a token refresh): null unless well formed. */
export function pullTargetOf(address: unknown): PullTarget | null {
  if (!address || typeof address !== 'object' || Array.isArray(address)) return null;
  const { endpoint, endpointProperties } = address as Json;
  if (typeof endpoint !== 'string' || (endpointProperties !== undefined && !Array.isArray(endpointProperties))) return null;
  const props = (endpointProperties ?? []) as unknown[];
  const prop = (name: string): string | null => {
    const found = props.find((p): p is { name: string; value: unknown } => !!p && typeof p === 'object' && (p as Json).name === name);
    return typeof found?.value === 'string' ? found.value : null;
  };
  const token = prop('authorization');
  if (!token || !HEADER_VALUE.test(token)) return null;
  let expiresAt: number | null = null;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    if (typeof payload.exp === 'number') expiresAt = payload.exp;
  } catch {
    expiresAt = null; // opaque token (another connector's): refresh only when refused
  }
  const size = Number(prop('size') ?? NaN);
  return {
    endpoint,
    authorization: /^bearer /i.test(token) ? token : `Bearer ${token}`,
    sha256: prop('sha256'),
    size: Number.isSafeInteger(size) && size >= 0 ? size : null,
    expiresAt,
  };
}

/**
 * The consumer's side of pull transfers: the DataAddress the provider sent, token refresh through the
 * provider's data plane (authenticated with our peer token), downloads that resume and verify, and
 * streaming to a management API caller.
 */
export class ConsumerDataPlane {
  constructor(
    private readonly deps: {
      store: Store;
      transfers: TransferService;
      client: DspClient;
      guard: AddressGuard;
      minFreeBytes: number;
      downloadDir: string;
      logger: Logger;
      /** Usage control: duties (log, notify, delete) for a received copy. */
      received: (t: Transfer, path: string, result: { bytes: number; sha256: string }) => void;
    },
  ) {}

  private startedPull(id: string): Transfer {
    const t = this.deps.store.transfers.get(id);
    if (!t || t.role !== 'consumer') throw new NotFoundError(`transfer ${id} not found among this connector's transfers as consumer`);
    if (t.format !== PULL) throw new ConflictError(`transfer ${id} is a push transfer: the provider sends the data`, 'NOT_A_PULL');
    if (t.state !== 'STARTED') throw new ConflictError(`transfer ${id} is ${t.state}: data can only be fetched while STARTED`, 'TRANSFER_NOT_STARTED');
    return t;
  }

  /** The current pull target, refreshed first when its token is about to expire. */
  async target(id: string): Promise<PullTarget> {
    const t = this.startedPull(id);
    const current = pullTargetOf(t.dataAddress);
    if (!current) throw new HedgerowError('NO_DATA_ADDRESS', `the provider sent no usable pull DataAddress for transfer ${id}`, { httpStatus: 409 });
    if (current.expiresAt !== null && current.expiresAt - REFRESH_MARGIN_SECONDS < Date.now() / 1000) return this.refresh(id);
    return current;
  }

  /** Ask the provider for a fresh pull token (POST <endpoint>/token with our peer token). */
  async refresh(id: string): Promise<PullTarget> {
    const t = this.startedPull(id);
    const current = pullTargetOf(t.dataAddress);
    if (!current) throw new HedgerowError('NO_DATA_ADDRESS', `no pull DataAddress for transfer ${id}`, { httpStatus: 409 });
    const res = await this.deps.client.post(`${current.endpoint.replace(/\/+$/, '')}/token`, t.counterpartyId, {});
    const fresh = res.status === 200 ? pullTargetOf(res.body) : null;
    if (!fresh) throw new HedgerowError('TOKEN_REFRESH_FAILED', `the provider refused a fresh pull token (HTTP ${res.status})`, { httpStatus: 502 });
    this.deps.store.transfers.update(id, { dataAddress: res.body as Json });
    return fresh;
  }

  /** Download the data into `downloadDir/fileName` (resumable, verified, atomic), optionally completing the transfer. */
  async download(id: string, opts: { fileName?: string; complete?: boolean; signal?: AbortSignal } = {}): Promise<DownloadResult & { file: string }> {
    const t = this.startedPull(id);
    const name = opts.fileName ?? `${t.assetId ?? 'data'}`;
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(name) || name.startsWith('.')) throw new ValidationError('must be a plain file name (letters, digits, . _ -)', '/fileName');
    fs.mkdirSync(this.deps.downloadDir, { recursive: true, mode: 0o700 });
    const out = path.join(this.deps.downloadDir, name);
    const first = await this.target(id);
    const result = await downloadToFile({
      url: first.endpoint,
      out,
      headers: async () => ({ authorization: (await this.target(id)).authorization }),
      ...(first.sha256 ? { expectedSha256: first.sha256 } : {}),
      minFreeBytes: this.deps.minFreeBytes,
      dispatcher: this.deps.client.dispatcher(),
      policy: this.deps.guard,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    this.recordReceived(id, out, result);
    if (opts.complete !== false) this.deps.transfers.operatorAction(id, 'complete');
    return { ...result, file: out };
  }

  /** A copy was received at `file` (by us, or by `hedgerow fetch`): record it and apply the agreement's duties. */
  recordReceived(id: string, file: string, result: { bytes: number; sha256: string }): void {
    this.deps.transfers.recordDownload(id, result);
    this.deps.received(this.deps.store.transfers.get(id)!, path.resolve(file), result);
  }

  /** Stream the data to `res` (a management API caller), passing Range through for resumption. */
  async stream(id: string, range: string | undefined, res: Writable & { writeHead(status: number, headers: Record<string, string>): unknown }): Promise<void> {
    const target = await this.target(id);
    this.deps.guard.checkUrl(target.endpoint, 'data endpoint');
    const upstream = await undiciLib().request(target.endpoint, {
      dispatcher: this.deps.client.dispatcher(),
      headers: { authorization: target.authorization, ...(range ? { range } : {}) },
    });
    const pass = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'etag', 'repr-digest', 'x-hedgerow-sha256'];
    const headers: Record<string, string> = {};
    for (const h of pass) {
      const v = upstream.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    res.writeHead(upstream.statusCode, headers);
    await pipeline(upstream.body, res);
  }
}
