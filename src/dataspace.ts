import type { Router } from 'express';
import type { X509Certificate } from 'node:crypto';
import type { HedgerowConfig } from './config/schema';
import type { Logger } from './log/logger';
import type { Store } from './store/store';
import type { IdentityHolder } from './server/identity-holder';
import { CertStore, certificateToPem } from './pki';
import { AddressGuard } from './net/address-guard';
import { ChainedVerifier, StaticTokenVerifier, X5cTokenSigner, X5cTokenVerifier, type PeerVerifier } from './identity/peer-token';
import { DspClient } from './protocol/dsp/client';
import { OutboxDispatcher } from './outbox/dispatcher';
import { CatalogService } from './catalog/catalog-service';
import { NegotiationService } from './negotiation/negotiation-service';
import { createDspRouter } from './protocol/dsp/router';
import { TransferService, type TransferDataPlane } from './transfer/transfer-service';
import { ProviderDataPlane } from './transfer/data-plane';
import { ConsumerDataPlane } from './transfer/consumer-data';
import { TckTransferScript } from './conformance/tck-script';
import { lazy, undiciLib } from './lazy';
import { DSP_BASE_PATH, DSP_CALLBACK_PATH } from './protocol/dsp/paths';
import { TckNegotiationScript } from './conformance/tck-script';
import { assertConformanceAllowed, CONFORMANCE_PATH, conformanceRouter, seedConformanceData } from './conformance/profile';

export interface Dataspace {
  publicRouter: Router;
  catalog: CatalogService;
  negotiations: NegotiationService;
  transfers: TransferService;
  consumerData: ConsumerDataPlane;
  client: DspClient;
  guard: AddressGuard;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Composition root of the Dataspace Protocol: peer identity, SSRF guard, outbound client, durable
 * outbox, catalog and negotiation services, and the public routes.
 */
export function createDataspace(deps: {
  config: HedgerowConfig;
  store: Store;
  identity: IdentityHolder;
  certStore: CertStore;
  publicUrl: string;
  /** host:port pairs never reachable from peer-supplied addresses (our management listener). */
  deny: Array<{ host: string; port: number }>;
  logger: Logger;
}): Dataspace {
  const { config, store, identity, logger } = deps;
  const conformance = config.conformance.enabled;
  if (conformance) {
    assertConformanceAllowed();
    seedConformanceData(store, () => identity.current.participantId);
    logger.warn('conformance profile enabled: DSP TCK ids seeded, scripted behaviour, unauthenticated /conformance endpoints');
  }
  const self = () => ({
    participantId: identity.current.participantId,
    dspBaseUrl: `${deps.publicUrl}${DSP_BASE_PATH}`,
    callbackAddress: `${deps.publicUrl}${DSP_CALLBACK_PATH}`,
  });
  const anchors = cachedAnchors(deps.certStore);
  const guard = new AddressGuard({ allow: config.dsp.allowedAddresses, deny: deps.deny, allowHttp: conformance });

  const verifiers: PeerVerifier[] = [new X5cTokenVerifier({ anchors, seenTokens: store.seenTokens })];
  if (Object.keys(config.dsp.staticTokens).length) verifiers.push(new StaticTokenVerifier(config.dsp.staticTokens));
  const verifier = verifiers.length === 1 ? verifiers[0]! : new ChainedVerifier(verifiers);

  const client = new DspClient({
    signer: new X5cTokenSigner(() => identity.current),
    guard,
    trustedCas: () => anchors().map(certificateToPem),
  });
  const catalog = new CatalogService({
    store,
    participantId: () => identity.current.participantId,
    dspBaseUrl: () => self().dspBaseUrl,
    pageSize: config.dsp.catalogPageSize,
  });

  let dispatcher: OutboxDispatcher | undefined;
  const processDeps = { store, guard, giveUpMs: config.dsp.outbox.giveUpHours * 3_600_000, kick: () => dispatcher?.kick(), logger };
  const negotiations = new NegotiationService({ ...processDeps, catalog, self, script: conformance ? new TckNegotiationScript() : undefined });

  // Backends of assets are configured by the operator: LAN and loopback allowed, our management listener never.
  const backendPolicy = new AddressGuard({ allow: ['127.0.0.0/8', '::1/128', 'localhost', ...config.dsp.allowedAddresses], deny: deps.deny, allowHttp: true });
  const backendDispatcher = lazy(() => new (undiciLib().Agent)({ connect: { lookup: backendPolicy.lookup(), timeout: 10_000 } }));
  let dataPlane: TransferDataPlane | undefined;
  const transfers = new TransferService({ ...processDeps, self, script: conformance ? new TckTransferScript() : undefined, dataPlane: () => dataPlane! });
  const providerData = new ProviderDataPlane({
    config: config.dataplane,
    store,
    identity,
    transfers: () => transfers,
    peers: verifier,
    guard,
    backendPolicy,
    dispatcher: () => client.dispatcher(),
    backendDispatcher,
    publicUrl: deps.publicUrl,
    logger,
  });
  dataPlane = providerData;
  const consumerData = new ConsumerDataPlane({ store, transfers, client, guard, minFreeBytes: config.health.diskFloorMb * 1048576, downloadDir: config.dataplane.downloadDir, logger });

  /** Outbox outcomes go to the service that owns the process. */
  const owner = (messageType: string) => (messageType.startsWith('Transfer') ? transfers : negotiations);
  dispatcher = new OutboxDispatcher({
    outbox: store.outbox,
    client,
    observer: {
      prepare: (e) => owner(e.messageType).prepare(e),
      delivered: (e, r) => owner(e.messageType).delivered(e, r),
      rejected: (e, r) => owner(e.messageType).rejected(e, r),
      gaveUp: (e, err) => owner(e.messageType).gaveUp(e, err),
    },
    retry: { initialDelayMs: config.dsp.outbox.retryInitialMs, maxDelayMs: config.dsp.outbox.retryMaxSeconds * 1000 },
    logger,
  });

  const publicRouter = createDspRouter({ verifier, participantId: () => identity.current.participantId, logger, catalog, negotiations, transfers, publicUrl: () => deps.publicUrl });
  publicRouter.use(providerData.router());
  if (conformance) publicRouter.use(CONFORMANCE_PATH, conformanceRouter({ negotiations, transfers }));

  // Expired token ids are forgotten hourly; only rows that exist are deleted, so an idle box stays quiet.
  const pruneTimer = setInterval(() => store.seenTokens.prune(Math.floor(Date.now() / 1000)), 3_600_000);
  pruneTimer.unref();

  return {
    publicRouter,
    catalog,
    negotiations,
    transfers,
    consumerData,
    client,
    guard,
    start() {
      negotiations.runPending(); // resume work owed before a restart
      transfers.resume();
      dispatcher!.start();
    },
    async stop() {
      clearInterval(pruneTimer);
      await dispatcher!.stop();
      await transfers.drain();
      await client.close();
    },
  };
}

const ANCHOR_REFRESH_MS = 10_000;

/**
 * Trust anchors, re-read from the certificates directory at most every 10 s (so `hedgerow trust
 * add|remove` takes effect on a running node within that time) and returned as the same array while
 * unchanged, which lets the token verifier keep its per-chain cache.
 */
function cachedAnchors(certStore: CertStore): () => X509Certificate[] {
  let anchors: X509Certificate[] = [];
  let key = '';
  let loadedAt = 0;
  return () => {
    if (Date.now() - loadedAt < ANCHOR_REFRESH_MS) return anchors;
    const fresh = certStore.trustAnchors();
    const freshKey = fresh.map((c) => c.fingerprint256).join(',');
    if (freshKey !== key) {
      anchors = fresh;
      key = freshKey;
    }
    loadedAt = Date.now();
    return anchors;
  };
}
