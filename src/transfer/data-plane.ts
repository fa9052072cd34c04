import type { NextFunction, Request, Response, Router } from 'express';
import { expressLib } from '../lazy';
import type { Store } from '../store/store';
import type { Transfer } from '../store/repositories/transfers';
import type { Logger } from '../log/logger';
import type { IdentityHolder } from '../server/identity-holder';
import type { PeerVerifier } from '../identity/peer-token';
import type { AddressGuard } from '../net/address-guard';
import type { Dispatcher } from 'undici';
import { DigestCache, TokenBucket, DataPlaneError, assetHandler, openFileSource, pushAsset } from '../dataplane';
import { ForbiddenError, HedgerowError, describeError } from '../errors';
import { errorBody, toHttpError } from '../server/errors';
import { evaluate, type OdrlPolicy } from '../policy';
import type { FactProvider } from '../usage/facts';
import { DataTokenVerifier, signDataToken } from './data-token';
import { HTTP_ENDPOINT_TYPE, type TransferDataPlane, type TransferService } from './transfer-service';
import type { AuditTrail } from '../audit/audit-trail';
import { DataAccessRecorder } from '../audit/data-access';

const MAX_BUCKETS = 1024;

/** Where pull data is served on the public listener. */
export const DATA_PATH = '/data/transfers';

export interface DataPlaneConfig {
  /** Root of file assets; nothing outside it is ever served. */
  root: string;
  tokenLifetimeSeconds: number;
  /** Per-transfer cap in bytes/s; 0 = none. */
  bandwidthBytesPerSecond: number;
}

/**
 * The provider's HTTP data plane: pull (GET with Range on /data/transfers/:providerPid, authorised
 * by a pull token AND the live state of transfer and agreement on every request), push (stream to
 * the consumer's endpoint), and pull-token refresh for consumers.
 */
export class ProviderDataPlane implements TransferDataPlane {
  private readonly digests: DigestCache;
  private readonly tokens: DataTokenVerifier;
  /** One bucket per transfer: a cap holds across parallel and resumed requests. */
  private readonly buckets = new Map<string, TokenBucket>();
  /** Audit entries of data requests, written after each response finished. */
  private readonly access: DataAccessRecorder;
  /** Data streams in flight per transfer (pulls being served, a push): cut when the transfer leaves STARTED. */
  private readonly streams = new Map<string, Set<AbortController>>();
  /** How each pull request releases its stream once served or failed. */
  private readonly releases = new WeakMap<object, () => void>();

  constructor(
    private readonly deps: {
      config: DataPlaneConfig;
      store: Store;
      identity: IdentityHolder;
      transfers: () => TransferService;
      facts: FactProvider;
      peers: PeerVerifier;
      /** SSRF guard for peer-supplied push targets. */
      guard: AddressGuard;
      /** Policy for operator-configured HTTP backends (may be on the LAN or loopback). */
      backendPolicy: AddressGuard;
      dispatcher: () => Dispatcher;
      backendDispatcher: () => Dispatcher;
      publicUrl: string;
      logger: Logger;
      audit?: AuditTrail;
    },
  ) {
    const files = deps.store.fileDigests;
    this.digests = new DigestCache({
      persistence: { get: (_fp, key) => files.get(key), set: (_fp, key, sha) => files.set(key, sha) },
      onPersistenceError: (err) => deps.logger.warn('digest cache persistence failed', { error: describeError(err) }),
    });
    this.tokens = new DataTokenVerifier(() => deps.identity.current);
    this.access = new DataAccessRecorder(deps.audit);
  }

  private bucket(transferId: string): TokenBucket | null {
    const rate = this.deps.config.bandwidthBytesPerSecond;
    if (!rate) return null;
    let b = this.buckets.get(transferId);
    if (!b) {
      // Bounded: buckets of long-finished transfers are dropped first (Map keeps insertion order).
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
      this.buckets.set(transferId, (b = new TokenBucket(rate)));
    }
    return b;
  }

  /** Digest of a file asset (cached), or null for backends and missing files: it is then announced per response. */
  private async fileDigest(t: Transfer): Promise<{ sha256: string; size: number } | null> {
    const asset = t.assetId ? this.deps.store.assets.get(t.assetId) : undefined;
    if (asset?.source.type !== 'file') return null;
    try {
      const file = await openFileSource(this.deps.config.root, asset.source.path);
      try {
        return { sha256: await this.digests.sha256(file), size: file.size };
      } finally {
        await file.close();
      }
    } catch (err) {
      this.deps.logger.warn('cannot compute the digest of a transfer asset', { transfer: t.id, error: describeError(err) });
      return null;
    }
  }

  private openStream(transferId: string): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    let live = this.streams.get(transferId);
    if (!live) this.streams.set(transferId, (live = new Set()));
    live.add(controller);
    const release = () => {
      live.delete(controller);
      if (!live.size && this.streams.get(transferId) === live) this.streams.delete(transferId);
    };
    return { signal: controller.signal, release };
  }

  stopStreams(transferId: string, reason: string): void {
    for (const controller of this.streams.get(transferId) ?? []) controller.abort(new DataPlaneError('ABORTED', reason));
  }

  async pullAddress(t: Transfer): Promise<Record<string, unknown>> {
    const id = this.deps.identity.current;
    const { token } = await signDataToken(id, { transferId: t.id, agreementId: t.agreementId, consumerId: t.counterpartyId, lifetimeSeconds: this.deps.config.tokenLifetimeSeconds });
    const digest = await this.fileDigest(t);
    const property = (name: string, value: string) => ({ '@type': 'EndpointProperty', name, value });
    return {
      '@type': 'DataAddress',
      endpointType: HTTP_ENDPOINT_TYPE,
      endpoint: `${this.deps.publicUrl}${DATA_PATH}/${encodeURIComponent(t.id)}`,
      endpointProperties: [
        property('authorization', token),
        property('authType', 'bearer'),
        ...(digest ? [property('sha256', digest.sha256), property('size', String(digest.size))] : []),
      ],
    };
  }

  async push(t: Transfer): Promise<{ bytes: number; sha256: string }> {
    const asset = t.assetId ? this.deps.store.assets.get(t.assetId) : undefined;
    if (!asset) throw new HedgerowError('ASSET_GONE', `asset ${t.assetId} no longer exists`);
    this.admit(t, 'PUSH');
    const address = t.dataAddress ?? {};
    const props = (address.endpointProperties as Array<{ name: string; value: string }> | undefined) ?? [];
    const auth = props.find((p) => p.name === 'authorization')?.value;
    const authType = props.find((p) => p.name === 'authType')?.value;
    const stream = this.openStream(t.id);
    const result = await pushAsset(asset.source, {
      signal: stream.signal,
      url: address.endpoint as string,
      method: 'PUT',
      ...(auth ? { authorization: authType?.toLowerCase() === 'bearer' && !/^bearer /i.test(auth) ? `Bearer ${auth}` : auth } : {}),
      contentType: asset.contentType,
      policy: this.deps.guard,
      dispatcher: this.deps.dispatcher(),
      bandwidth: this.bucket(t.id),
      dataRoot: this.deps.config.root,
      digests: this.digests,
      backend: { policy: this.deps.backendPolicy, dispatcher: this.deps.backendDispatcher() },
    }).finally(stream.release);
    return { bytes: result.bytes, sha256: result.sha256 };
  }

  /**
   * Authorise one data request: the token must be ours, for this transfer and consumer, and right
   * now the transfer must be STARTED, its agreement active and its policy satisfied. 401 for a bad
   * token, 403 for a good token that may not be used now.
   */
  private async authorise(req: Request): Promise<Transfer> {
    const claims = await this.tokens.verify(req.get('authorization'));
    const pid = req.params.providerPid!;
    if (claims.transferId !== pid) throw new ForbiddenError('this pull token belongs to another transfer', 'DATA_TOKEN_WRONG_TRANSFER');
    const t = this.deps.store.transfers.own('provider', pid);
    if (!t || t.counterpartyId !== claims.consumerId || t.agreementId !== claims.agreementId) throw new ForbiddenError('this pull token does not match the transfer', 'DATA_TOKEN_WRONG_TRANSFER');
    if (t.state !== 'STARTED') {
      if (t.state === 'COMPLETED' || t.state === 'TERMINATED') this.buckets.delete(t.id);
      throw new ForbiddenError(`transfer is ${t.state}: data is not available`, 'TRANSFER_NOT_STARTED');
    }
    this.admit(t, req.method === 'HEAD' ? 'HEAD' : 'GET');
    return t;
  }

  /**
   * Decide one access to the data under the transfer's agreement, and count it, in one transaction, so that
   * parallel accesses cannot exceed an N-times limit. A use is one transfer process: its first GET or push
   * counts; its later GETs (a resumed download, a retry) and every HEAD are decided but not counted, and a
   * transfer already counted is decided as that same use (the `count` it was allowed under holds for it).
   * A denial terminates the transfer.
   */
  private admit(t: Transfer, access: 'GET' | 'HEAD' | 'PUSH'): void {
    const agreement = this.deps.store.agreements.get(t.agreementId, 'provider');
    if (agreement?.status !== 'active') throw new ForbiddenError(`agreement ${t.agreementId} is no longer active`, 'AGREEMENT_NOT_ACTIVE');
    const decision = this.deps.store.transaction(() => {
      const d = evaluate(agreement.agreement as unknown as OdrlPolicy, { scope: 'transfer', facts: this.deps.facts.underAgreement(agreement, { transferId: t.id }) });
      const counted = d.allowed && access !== 'HEAD' ? this.deps.store.usage.countUse(agreement.id, t.id) : null;
      const use = counted ?? this.deps.store.usage.useOf(t.id);
      this.deps.audit?.append({
        processId: t.id,
        actor: t.counterpartyId,
        event: 'policy.decision',
        detail: { scope: 'transfer', access, allowed: d.allowed, counted: counted !== null, ...(use !== undefined ? { use } : {}), reason: d.reason, trace: d.trace },
      });
      return d;
    });
    if (!decision.allowed) {
      this.deps.transfers().terminateForDataPlane(t.id, 'POLICY_DENIED', decision.reason);
      throw new ForbiddenError(`the agreement no longer allows this transfer: ${decision.reason}`, 'POLICY_DENIED');
    }
  }

  router(): Router {
    const router = expressLib().Router();
    const handler = assetHandler(
      async (req) => {
        const t = await this.authorise(req as Request);
        this.access.allowed(req, t);
        const asset = this.deps.store.assets.get(t.assetId ?? '');
        if (!asset) throw new HedgerowError('ASSET_GONE', 'the asset of this transfer no longer exists', { httpStatus: 410 });
        // The backend connection pool is created on the first backend request, not at start-up.
        const backend = asset.source.type === 'http' ? { backend: { policy: this.deps.backendPolicy, dispatcher: this.deps.backendDispatcher() } } : {};
        const stream = this.openStream(t.id);
        this.releases.set(req, stream.release);
        return { source: asset.source, options: { contentType: asset.contentType, bandwidth: this.bucket(t.id), signal: stream.signal, ...backend } };
      },
      {
        dataRoot: this.deps.config.root,
        digests: this.digests,
        onServed: (result, req) => {
          this.releases.get(req)?.();
          this.access.served(result, req);
        },
        onFailed: (err, req) => {
          this.releases.get(req)?.();
          this.access.failed(err, req);
          // A backend that fails ends the transfer with the reason: the consumer must not wait forever.
          if (err instanceof DataPlaneError && err.code.startsWith('BACKEND_')) {
            this.deps.transfers().terminateForDataPlane(String((req as Request).params.providerPid), err.code, err.reason);
            this.deps.logger.warn('asset backend failed, transfer terminated', { code: err.code, detail: err.internal });
          }
        },
      },
    );
    router.get(`${DATA_PATH}/:providerPid`, handler);
    router.head(`${DATA_PATH}/:providerPid`, handler);

    // Token refresh: the consumer authenticates as a DSP peer (x5c JWT) and gets a fresh DataAddress.
    router.post(`${DATA_PATH}/:providerPid/token`, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const peer = await this.deps.peers.verify(req.get('authorization'), { audience: this.deps.identity.current.participantId });
        const t = this.deps.store.transfers.own('provider', String(req.params.providerPid));
        if (!t || t.counterpartyId !== peer.participantId) throw new HedgerowError('NOT_FOUND', 'transfer not found', { httpStatus: 404 });
        if (t.state !== 'STARTED') throw new ForbiddenError(`transfer is ${t.state}: no token is issued`, 'TRANSFER_NOT_STARTED');
        res.json(await this.pullAddress(t));
      } catch (err) {
        next(err);
      }
    });
    router.use(DATA_PATH, (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      const { status, body } = toHttpError(err);
      if (status >= 500 && !(err instanceof DataPlaneError)) this.deps.logger.error('data request failed', { path: req.path, error: describeError(err) });
      if (status === 401) {
        res.set('WWW-Authenticate', 'Bearer realm="hedgerow-data"');
        this.access.authFailure(err, req, req.baseUrl + req.path);
      }
      res.status(status).json(status === 500 ? errorBody('INTERNAL', 'internal error') : body);
    });
    return router;
  }
}
