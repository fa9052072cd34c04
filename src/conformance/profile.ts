import { Router } from 'express';
import express from 'express';
import type { Store } from '../store/store';
import type { NegotiationService } from '../negotiation/negotiation-service';
import { ConfigError, ValidationError } from '../errors';
import { TCK_CATALOG_DATASETS, TCK_PROVIDER_DATASETS } from './tck-script';
import { errorBody } from '../server/errors';

/**
 * The conformance profile for the Eclipse DSP TCK: seeded ids, scripted behaviour (tck-script.ts)
 * and the "initiate" test-control endpoints. Off by default and refused in production: it lets an
 * unauthenticated caller start negotiations.
 */
export const TCK_POLICY_ID = 'tck-use';
export const TCK_OFFER_DEFINITION_ID = 'CD123';
export const CONFORMANCE_PATH = '/conformance';

export function assertConformanceAllowed(): void {
  if (process.env.NODE_ENV === 'production') {
    throw new ConfigError('conformance.enabled is refused when NODE_ENV=production: it opens unauthenticated test-control endpoints');
  }
}

/** Seed the datasets and the offer the TCK's provider scenarios use (idempotent). */
export function seedConformanceData(store: Store): void {
  store.transaction(() => {
    if (!store.policies.get(TCK_POLICY_ID)) store.policies.insert({ id: TCK_POLICY_ID, title: 'DSP TCK: use', policy: { permission: [{ action: 'use' }] } as never });
    const ids = [...TCK_CATALOG_DATASETS, ...TCK_PROVIDER_DATASETS];
    for (const id of ids) {
      if (!store.assets.get(id)) {
        store.assets.insert({ id, title: `DSP TCK dataset ${id}`, description: null, keywords: ['tck'], contentType: 'text/plain', originator: null, source: { type: 'file', path: `tck/${id}.txt` } });
      }
    }
    if (!store.offers.get(TCK_OFFER_DEFINITION_ID)) {
      store.offers.insert({ id: TCK_OFFER_DEFINITION_ID, accessPolicyId: TCK_POLICY_ID, contractPolicyId: TCK_POLICY_ID, assetIds: ids });
    }
  });
}

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || !v) throw new ValidationError('is required', `/${field}`);
  return v;
};

/** POST /conformance/negotiations/initiate: start a negotiation as consumer, as the TCK asks. */
export function conformanceRouter(deps: { negotiations: NegotiationService }): Router {
  const router = Router();
  router.use(express.json({ limit: '64kb' }));
  router.post('/negotiations/initiate', (req, res) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const offerId = str(body.offerId, 'offerId');
      const datasetId = str(body.datasetId, 'datasetId');
      const n = deps.negotiations.start({
        providerAddress: str(body.connectorAddress, 'connectorAddress'),
        providerId: str(body.providerId, 'providerId'),
        offer: { '@id': offerId, '@type': 'Offer', target: datasetId, permission: [{ action: 'use' }] },
        datasetId,
      });
      res.status(200).json({ consumerPid: n.consumerPid });
    } catch (err) {
      const status = (err as { httpStatus?: number }).httpStatus ?? 500;
      res.status(status >= 500 ? 500 : status).json(errorBody((err as { code?: string }).code ?? 'INTERNAL', (err as Error).message));
    }
  });
  return router;
}
