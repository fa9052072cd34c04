/**
 * Management API entries of the Gaia-X verifier (added to the route table in src/management/api.ts). Light: the
 * verifier is loaded when the first request arrives.
 */
import type { HedgerowConfig } from '../config/schema';
import type { CertStore } from '../pki';
import type { ConnectorIdentity } from '../identity/identity';
import type { ApiRoute } from '../management/route-table';
import { HedgerowError, ValidationError } from '../errors';
import type { FetchGuard } from './did-resolver';

export interface GaiaxManagementDeps {
  config: HedgerowConfig;
  certStore: CertStore;
  identity: () => ConnectorIdentity;
  didDocument: () => Promise<Record<string, unknown>>;
  /** SSRF guard for did:web / x5u fetches (addresses come from the verified, untrusted input). */
  guard?: FetchGuard;
}

export function gaiaxManagementRoutes(deps: GaiaxManagementDeps | undefined): ApiRoute[] {
  return [
    {
      method: 'post',
      path: '/gaiax/verify',
      tag: 'gaiax',
      summary: 'Verify a Gaia-X self-description (Loire VP-JWT/VC-JWT or 22.10 JSON-LD): eight steps, each PASS or FAIL with the reason',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['presentation'],
        properties: {
          presentation: { type: ['string', 'object'], description: 'the compact VP-JWT / VC-JWT, or the 22.10 JSON-LD presentation or credential' },
          didDocuments: { type: 'array', maxItems: 100, items: { type: 'object' }, description: 'DID documents to use instead of resolving did:web (their keys are still bound by a certificate naming the host)' },
          chains: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 100_000 }, description: 'PEM certificate chains (leaf first) to use instead of x5u' },
          offline: { type: 'boolean', description: 'never fetch: use given documents and the offline cache only' },
          emitResult: { type: 'boolean', description: 'when every step passes, add a result credential signed with this connector key' },
        },
      },
      handler: async ({ body }) => {
        if (!deps) throw new HedgerowError('GAIAX_NOT_ENABLED', 'the Gaia-X verifier is not wired into this connector', { httpStatus: 503 });
        const { readCertificatesPem } = require('../pki') as typeof import('../pki');
        const { verifyWithConfig, resultSignerFor } = require('./service') as typeof import('./service');
        const chains = ((body.chains as string[] | undefined) ?? []).map((pem, i) => {
          try {
            return readCertificatesPem(pem);
          } catch (err) {
            throw new ValidationError((err as Error).message, `/chains/${i}`);
          }
        });
        return verifyWithConfig(
          { config: deps.config, certStore: deps.certStore, ...(deps.guard ? { guard: deps.guard } : {}) },
          {
            input: body.presentation,
            didDocuments: body.didDocuments ?? [],
            chains,
            offline: body.offline === true,
            ...(body.emitResult ? { resultSigner: await resultSignerFor(deps.identity(), await deps.didDocument(), deps.config.gaiax.validityDays) } : {}),
          },
        );
      },
    },
  ];
}
