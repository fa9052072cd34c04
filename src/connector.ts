import https from 'node:https';
import http from 'node:http';
import type { SecureContextOptions } from 'node:tls';
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { HedgerowConfig } from './config/schema';
import type { Logger } from './log/logger';
import { Store } from './store/store';
import { CertStore, certificateInfo, certificateToPem, privateKeyToPem } from './pki';
import { DeviceMonitor } from './health/device';
import { Metrics } from './health/metrics';
import { HealthService } from './health/health-service';
import { IdentityHolder } from './server/identity-holder';
import { createPublicApp } from './server/public-app';
import { createManagementApp } from './server/management-app';
import { healthEndpoints, onFirstRequest } from './server/health-endpoints';
import { closeGracefully, listen } from './server/http-server';
import { HedgerowError } from './errors';
import { VERSION } from './version';
import type { ConnectorIdentity } from './identity/identity';
import { createDataspace } from './dataspace';
import { createManagementApi } from './management/api';

export interface RunningConnector {
  publicUrl: string;
  managementUrl: string;
  identity: IdentityHolder;
  store: Store;
  /** Stop accepting, finish in-flight requests within the grace period, close the database. */
  stop(): Promise<void>;
}

function tlsOptions(
  identity: { privateKey: KeyObject; chain: X509Certificate[] },
  config: HedgerowConfig,
  anchorsPem: string[],
): SecureContextOptions {
  return {
    key: privateKeyToPem(identity.privateKey),
    cert: identity.chain.map(certificateToPem).join(''),
    minVersion: config.publicApi.minTlsVersion,
    ...(anchorsPem.length ? { ca: anchorsPem } : {}),
  };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Start both listeners on a configured, initialised node. */
export async function startConnector(config: HedgerowConfig, logger: Logger): Promise<RunningConnector> {
  const startedAt = process.hrtime.bigint();
  const certStore = new CertStore(config.certsDir);
  if (!certStore.hasIdentity()) {
    throw new HedgerowError('NOT_INITIALISED', `no connector key in ${config.certsDir}: run "hedgerow init" first`, { exitCode: 1 });
  }
  const initial = certStore.loadIdentity();
  const store = Store.open(config.dataDir, { busyTimeoutMs: config.database.busyTimeoutMs });
  const closers: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    const anchorsPem = () => certStore.trustAnchors().map(certificateToPem);
    const publicServer = https.createServer({
      ...tlsOptions(initial, config, anchorsPem()),
      requestCert: config.publicApi.requestClientCertificate,
      rejectUnauthorized: false, // client certificates are optional evidence, never a gate at the TLS layer
    });
    publicServer.headersTimeout = 30_000;
    publicServer.requestTimeout = 0; // long downloads on slow links must not be cut
    publicServer.keepAliveTimeout = 5_000;
    const publicPort = await listen(publicServer, config.publicApi.host, config.publicApi.port, 'public');
    closers.unshift(() => closeGracefully(publicServer, config.shutdown.graceSeconds * 1000));

    // Advertise the certificate's first hostname, so peers' TLS hostname checks pass.
    const advertisedHost = certificateInfo(initial.chain[0]!).hostnames[0] ?? 'localhost';
    const baseUrl = config.publicApi.baseUrl?.replace(/\/+$/, '') ?? `https://${hostForUrl(advertisedHost)}:${publicPort}`;
    const identity = new IdentityHolder(certStore, baseUrl, logger);
    identity.on('change', (next: ConnectorIdentity) => publicServer.setSecureContext(tlsOptions(next, config, anchorsPem())));
    identity.watch();
    closers.push(() => identity.close());

    const device = new DeviceMonitor(config.dataDir, config.health.refreshSeconds, logger);
    device.start();
    closers.push(() => device.stop());
    const metrics = new Metrics({
      databaseFiles: () => [store.file, `${store.file}-wal`],
      dataDirFreeBytes: () => device.snapshot.dataDirFreeBytes,
      certificateDaysToExpiry: () => (identity.current.leaf.notAfter.getTime() - Date.now()) / 86_400_000,
      cpuTemperatureCelsius: () => device.snapshot.cpuTemperatureCelsius,
    });
    const health = new HealthService({ store, device, identity, diskFloorBytes: config.health.diskFloorMb * 1048576, version: VERSION });

    const deny: Array<{ host: string; port: number }> = [];
    const dataspace = createDataspace({ config, store, identity, certStore, publicUrl: baseUrl, deny, logger });
    closers.unshift(() => dataspace.stop());

    // Both HTTP applications are built on their first request: an idle connector has answered only
    // health probes and keeps express and the route modules out of memory (see health-endpoints.ts).
    const publicApp = onFirstRequest(
      () => createPublicApp({ identity, metrics, logger, routers: [dataspace.publicRouter()], gaiax: { config, store, catalog: dataspace.catalog, publicUrl: baseUrl } }),
      logger,
    );
    publicServer.on('request', publicApp);
    const managementApp = onFirstRequest(() => {
      const managementApi = createManagementApi({
        store,
        dataspace,
        logger,
        dataRoot: config.dataplane.root,
        gaiax: { config, certStore, identity: () => identity.current, didDocument: () => identity.didDocument(), guard: dataspace.guard },
      });
      return createManagementApp({ store, metrics, logger, routers: [{ path: '/api/v1', router: managementApi }] });
    }, logger);
    const managementServer = http.createServer(healthEndpoints({ health, metrics }, managementApp));
    managementServer.keepAliveTimeout = 5_000;
    const managementPort = await listen(managementServer, config.managementApi.host, config.managementApi.port, 'management');
    deny.push({ host: config.managementApi.host, port: managementPort });
    closers.unshift(() => closeGracefully(managementServer, config.shutdown.graceSeconds * 1000));
    dataspace.start();

    const managementUrl = `http://${hostForUrl(config.managementApi.host)}:${managementPort}`;
    const startupMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
    logger.info('hedgerow listening', {
      version: VERSION,
      participantId: identity.current.participantId,
      did: identity.current.did,
      publicUrl: baseUrl,
      publicListener: `${config.publicApi.host}:${publicPort}`,
      managementUrl,
      startupMs: Math.round(startupMs * 10) / 10,
    });

    let stopping: Promise<void> | undefined;
    return {
      publicUrl: baseUrl,
      managementUrl,
      identity,
      store,
      stop: () =>
        (stopping ??= (async () => {
          for (const close of closers) await close();
          logger.info('hedgerow stopped');
        })()),
    };
  } catch (err) {
    for (const close of closers) await close();
    throw err;
  }
}
