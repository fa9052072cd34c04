import type { Router } from 'express';
import { expressLib } from '../lazy';
import type { Store } from '../store/store';
import type { NegotiationService } from '../negotiation/negotiation-service';
import { ConfigError, ValidationError } from '../errors';
import { TCK_CATALOG_DATASETS, TCK_CONSUMER_AGREEMENTS, TCK_PROVIDER_AGREEMENTS, TCK_PROVIDER_DATASETS } from './tck-script';
import type { TransferService } from '../transfer/transfer-service';
import { errorBody } from '../server/errors';

/**
 * The conformance profile for the Eclipse DSP TCK: seeded ids, scripted behaviour (tck-script.ts)
 * and the "initiate" test-control endpoints. Off by default and refused in production: it lets an
 * unauthenticated caller start negotiations.
 */
export const TCK_POLICY_ID = 'tck-use';
export const TCK_OFFER_DEFINITION_ID = 'CD123';
export const CONFORMANCE_PATH = '/conformance';
/** The participant id the TCK's static Authorization header is mapped to (see README). */
export const TCK_PARTICIPANT = 'TCK_PARTICIPANT';
/** The dataset the seeded agreements are about. */
const TCK_TRANSFER_DATASET = 'CAT0101';

export function assertConformanceAllowed(): void {
  if (process.env.NODE_ENV === 'production') {
    throw new ConfigError('conformance.enabled is refused when NODE_ENV=production: it opens unauthenticated test-control endpoints');
  }
}

/** Seed the datasets and the offer the TCK's provider scenarios use (idempotent). */
export function seedConformanceData(store: Store, participantId: () => string): void {
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
    // Finalized agreements the transfer scenarios name: ATP* with us as provider, ATPC* with the TCK as provider.
    const seedAgreement = (id: string, role: 'provider' | 'consumer') => {
      if (store.agreements.get(id, role)) return;
      const self = participantId();
      const [providerId, consumerId] = role === 'provider' ? [self, TCK_PARTICIPANT] : [TCK_PARTICIPANT, self];
      const negotiationId = `urn:hedgerow:tck-seed:${role}:${id}`;
      store.negotiations.insert({
        id: negotiationId, role, providerPid: negotiationId, consumerPid: negotiationId, counterpartyId: TCK_PARTICIPANT, counterpartyAddress: null,
        counterpartyClaims: {}, state: 'FINALIZED', nextAction: null, assetId: TCK_TRANSFER_DATASET, offerId: null, offer: null, agreementId: id, error: null,
      });
      const agreement = { '@id': id, '@type': 'Agreement', target: TCK_TRANSFER_DATASET, assigner: providerId, assignee: consumerId, timestamp: new Date().toISOString(), permission: [{ action: 'use' }] };
      store.agreements.insert({ id, negotiationId, role, providerId, consumerId, assetId: TCK_TRANSFER_DATASET, agreement, signedAt: agreement.timestamp, status: 'active' });
    };
    for (const id of TCK_PROVIDER_AGREEMENTS) seedAgreement(id, 'provider');
    for (const id of TCK_CONSUMER_AGREEMENTS) seedAgreement(id, 'consumer');
  });
}

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || !v) throw new ValidationError('is required', `/${field}`);
  return v;
};

/** POST /conformance/negotiations/initiate: start a negotiation as consumer, as the TCK asks. */
export function conformanceRouter(deps: { negotiations: NegotiationService; transfers: TransferService }): Router {
  const router = expressLib().Router();
  router.use(expressLib().json({ limit: '64kb' }));
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
      fail(res, err);
    }
  });
  /** POST /conformance/transfers/initiate: request a transfer as consumer under a seeded agreement. */
  router.post('/transfers/initiate', (req, res) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const t = deps.transfers.start({ agreementId: str(body.agreementId, 'agreementId'), providerAddress: str(body.connectorAddress, 'connectorAddress') });
      res.status(200).json({ consumerPid: t.consumerPid });
    } catch (err) {
      fail(res, err);
    }
  });
  return router;
}

function fail(res: import('express').Response, err: unknown): void {
  const status = (err as { httpStatus?: number }).httpStatus ?? 500;
  res.status(status >= 500 ? 500 : status).json(errorBody((err as { code?: string }).code ?? 'INTERNAL', (err as Error).message));
}
