import type { Express, Router } from 'express';
import { expressLib } from '../lazy';
import type { Logger } from '../log/logger';
import type { Metrics } from '../health/metrics';
import { jsonErrorHandler, notFoundHandler } from './errors';
import { CERTIFICATE_CHAIN_PATH, didDocumentPath } from '../identity/did';
import type { IdentityHolder } from './identity-holder';
import { createSelfDescriptionRouter, SelfDescriptionService, type GaiaxDeps } from '../gaiax/service';

export interface PublicAppDeps {
  identity: IdentityHolder;
  metrics: Metrics;
  logger: Logger;
  /** Protocol routers (Dataspace Protocol, data plane), mounted at the root. */
  routers?: Router[];
  /** Serves the Gaia-X self-description at /gaiax/self-description (signed on first request, cached by revision). */
  gaiax?: Omit<GaiaxDeps, 'identity' | 'didDocument'>;
}

/**
 * The public HTTPS application: what peers on the dataspace may reach. Today the DID document and the
 * certificate chain behind its x5u; the Dataspace Protocol and the data plane mount here.
 */
export function createPublicApp(deps: PublicAppDeps): Express {
  const app = expressLib()();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(deps.metrics.httpMiddleware('public'));

  const didPath = didDocumentPath(deps.identity.current.did);
  app.get(didPath, async (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').type('application/did+json').send(JSON.stringify(await deps.identity.didDocument()));
  });
  app.get(CERTIFICATE_CHAIN_PATH, (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').type('application/x-pem-file').send(deps.identity.chainPem());
  });

  if (deps.gaiax) {
    const gaiax = deps.gaiax;
    let service: SelfDescriptionService | undefined;
    const identityDeps = { identity: () => deps.identity.current, didDocument: () => deps.identity.didDocument() };
    app.use(createSelfDescriptionRouter(() => (service ??= new SelfDescriptionService({ ...gaiax, ...identityDeps }))));
  }

  for (const router of deps.routers ?? []) app.use(router);

  app.use(notFoundHandler);
  app.use(jsonErrorHandler(deps.logger));
  return app;
}
