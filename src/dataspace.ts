import type { Router } from 'express';
import type { X509Certificate } from 'node:crypto';
import type { HedgerowConfig } from './config/schema';
import type { Logger } from './log/logger';
import type { Store } from './store/store';
import type { IdentityHolder } from './server/identity-holder';
import { CertStore, certificateToPem, subjectAttributes } from './pki';
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
import { FactProvider } from './usage/facts';
import { DELETION_RECEIPT, USAGE_NOTIFICATION, UsageControl } from './usage/usage-control';
import { DSP_BASE_PATH, DSP_CALLBACK_PATH } from './protocol/dsp/paths';
import { TckNegotiationScript } from './conformance/tck-script';
import { ConsentService } from './consent/consent-service';
import { GroupService } from './consent/group-service';
import { createConsentApprovalRouter } from './consent/approval-page';
import { assertConformanceAllowed, CONFORMANCE_PATH, conformanceRouter, seedConformanceData } from './conformance/profile';
import { AuditTrail } from './audit/audit-trail';
import { signingKeyOf } from './audit/head-signature';
import { describeError } from './errors';

export interface Dataspace {
  /** The public protocol routes (DSP, data plane, receipts, consent pages), built on first call. */
  publicRouter: () => Router;
  catalog: CatalogService;
  negotiations: NegotiationService;
  transfers: TransferService;
  consumerData: ConsumerDataPlane;
  usage: UsageControl;
  client: DspClient;
  guard: AddressGuard;
  /** Farmer consent registry (`consent` policy operand, approval page, revocation hook). */
  consents: ConsentService;
  /** Participant groups (`membership` policy operand). */
  groups: GroupService;
  /** Tamper-evident audit trail (hash chain, signed heads). */
  audit: AuditTrail;
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
  // Tamper-evident audit trail; heads signed with the connector key (its own certificate pinned when verifying).
  const audit = new AuditTrail({
    store,
    self: () => identity.current.participantId,
    signingKey: () => signingKeyOf(identity.current),
    anchors,
    pinned: () => [identity.current.chain[0]!],
    logger,
  });
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
  const processDeps = {
    store,
    guard,
    giveUpMs: config.dsp.outbox.giveUpHours * 3_600_000,
    kick: () => dispatcher?.kick(),
    logger,
    audit,
    openProcessesPerPeer: config.dsp.limits.openProcessesPerPeer,
  };
  const consents = new ConsentService({
    store,
    recordChange: (change) =>
      audit.append({ processId: change.consentId, actor: change.actor, event: 'consent.changed', detail: { from: change.from, to: change.to, note: change.note } }),
    publicUrl: () => deps.publicUrl,
    holder: () => ({ participantId: identity.current.participantId, name: config.gaiax.legalName ?? subjectAttributes(identity.current.chain[0]!).organization ?? null }),
    logger,
  });
  const groups = new GroupService({ store, logger });

  // Verified facts for the policy engine: group membership and consent from the local registry.
  const facts = new FactProvider({ store, groupsOf: (id) => groups.groupsOf(id), consentCheck: (b, o, category) => consents.consentCheck(b, o, { category }) });
  const negotiations = new NegotiationService({ ...processDeps, catalog, facts, self, script: conformance ? new TckNegotiationScript() : undefined });

  // Backends of assets are configured by the operator: LAN and loopback allowed, our management listener never.
  const backendPolicy = new AddressGuard({ allow: ['127.0.0.0/8', '::1/128', 'localhost', ...config.dsp.allowedAddresses], deny: deps.deny, allowHttp: true });
  const backendDispatcher = lazy(() => new (undiciLib().Agent)({ connect: { lookup: backendPolicy.lookup(), timeout: 10_000 } }));
  let dataPlane: TransferDataPlane | undefined;
  let usage: UsageControl | undefined;
  const transfers = new TransferService({ ...processDeps, facts, self, ended: (t) => usage?.ended(t), script: conformance ? new TckTransferScript() : undefined, dataPlane: () => dataPlane! });
  const providerData = new ProviderDataPlane({
    config: config.dataplane,
    store,
    identity,
    transfers: () => transfers,
    facts,
    peers: verifier,
    guard,
    backendPolicy,
    dispatcher: () => client.dispatcher(),
    backendDispatcher,
    publicUrl: deps.publicUrl,
    logger,
    audit,
  });
  dataPlane = providerData;
  usage = new UsageControl({
    store,
    facts,
    transfers,
    identity,
    peers: verifier,
    anchors,
    giveUpMs: processDeps.giveUpMs,
    kick: () => dispatcher?.kick(),
    monitorSeconds: config.usage.monitorSeconds,
    logger,
    audit: (entry) => audit.append(entry),
  });
  // A granted consent revoked or expired (after its commit): dependent agreements and their transfers stop.
  // The consent service logs a rejection of the listener's promise.
  consents.onRevoked((consent) => usage!.consentEnded(consent).then(() => undefined));
  const consumerData = new ConsumerDataPlane({
    store,
    transfers,
    client,
    guard,
    minFreeBytes: config.health.diskFloorMb * 1048576,
    downloadDir: config.dataplane.downloadDir,
    logger,
    received: (t, file, result) => usage!.received(t, file, result),
  });

  /** Outbox outcomes go to the service that owns the message. */
  const owner = (messageType: string) =>
    messageType === USAGE_NOTIFICATION || messageType === DELETION_RECEIPT ? usage! : messageType.startsWith('Transfer') ? transfers : negotiations;
  dispatcher = new OutboxDispatcher({
    outbox: store.outbox,
    transaction: (fn) => store.transaction(fn),
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

  const publicRouter = lazy(() => {
    const router = createDspRouter({ verifier, participantId: () => identity.current.participantId, logger, audit, catalog, negotiations, transfers, facts, publicUrl: () => deps.publicUrl });
    router.use(providerData.router());
    router.use(usage.router());
    router.use(createConsentApprovalRouter({ consents, logger }));
    if (conformance) router.use(CONFORMANCE_PATH, conformanceRouter({ negotiations, transfers }));
    return router;
  });

  // Expired token ids are forgotten hourly; only rows that exist are deleted, so an idle box stays quiet.
  const pruneTimer = setInterval(() => store.seenTokens.prune(Math.floor(Date.now() / 1000)), 3_600_000);
  pruneTimer.unref();
  // The audit head is signed periodically, only when entries were added since the last signature: an idle box writes nothing.
  const signHead = () => audit.signHeadIfChanged().catch((err: unknown) => logger.error('audit: signing the chain head failed', { error: describeError(err) }));
  const auditTimer = config.audit.signIntervalMinutes > 0 ? setInterval(signHead, config.audit.signIntervalMinutes * 60_000) : undefined;
  auditTimer?.unref();

  return {
    publicRouter,
    catalog,
    negotiations,
    transfers,
    consumerData,
    usage,
    client,
    guard,
    consents,
    groups,
    audit,
    start() {
      negotiations.runPending(); // resume work owed before a restart
      transfers.resume();
      usage!.start();
      dispatcher!.start();
      consents.start(); // records consents that expired while stopped, then watches the next deadline
    },
    async stop() {
      clearInterval(pruneTimer);
      clearInterval(auditTimer);
      consents.stop();
      usage!.stop();
      await dispatcher!.stop();
      await transfers.drain();
      await signHead(); // the last entries are covered by a signature before the process ends
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
