import type { Router } from 'express';
import { expressLib } from '../../lazy';
import type { CatalogService } from '../../catalog/catalog-service';
import type { NegotiationService } from '../../negotiation/negotiation-service';
import type { TransferService } from '../../transfer/transfer-service';
import type { FactProvider } from '../../usage/facts';
import type { DspContext } from './handler';
import { DSP_JSON_TYPES, dspParseErrorHandler } from './handler';
import { catalogRoutes } from './routes/catalog';
import { providerNegotiationRoutes } from './routes/negotiation-provider';
import { consumerNegotiationRoutes, initialOfferRoute } from './routes/negotiation-consumer';
import { versionEndpoint } from './routes/version';
import { consumerTransferRoutes, providerTransferRoutes } from './routes/transfer';
import { DSP_BASE_PATH, DSP_CALLBACK_PATH, DSP_VERSION_PATH } from './paths';

export interface DspRouterDeps extends DspContext {
  catalog: CatalogService;
  negotiations: NegotiationService;
  transfers: TransferService;
  facts: FactProvider;
  publicUrl: () => string;
}

/**
 * The Dataspace Protocol surface of the public listener. Paths: the version document at the root,
 * provider endpoints under /dsp/2025-1, consumer callbacks under /dsp/2025-1/callback.
 */
export function createDspRouter(deps: DspRouterDeps): Router {
  const jsonBody = expressLib().json({ limit: '1mb', type: DSP_JSON_TYPES });
  const root = expressLib().Router();
  root.get(DSP_VERSION_PATH, versionEndpoint(() => (deps.participantId().startsWith('did:web:') ? 'did:web' : 'uri')));

  const callback = expressLib().Router();
  callback.use('/transfers', jsonBody, dspParseErrorHandler('transfer'));
  callback.use(jsonBody, dspParseErrorHandler('negotiation'));
  callback.use(consumerNegotiationRoutes(deps));
  callback.use(consumerTransferRoutes(deps));
  root.use(DSP_CALLBACK_PATH, callback);

  const base = expressLib().Router();
  base.use('/catalog', jsonBody, dspParseErrorHandler('catalog'));
  base.use('/transfers', jsonBody, dspParseErrorHandler('transfer'));
  base.use(jsonBody, dspParseErrorHandler('negotiation'));
  base.use(catalogRoutes(deps));
  base.use(initialOfferRoute(deps));
  base.use(providerNegotiationRoutes(deps));
  base.use(providerTransferRoutes(deps));
  root.use(DSP_BASE_PATH, base);
  return root;
}
