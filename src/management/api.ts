import crypto from 'node:crypto';
import path from 'node:path';
import type { Router } from 'express';
import { expressLib } from '../lazy';
import type { Store } from '../store/store';
import type { Logger } from '../log/logger';
import type { Dataspace } from '../dataspace';
import type { Asset } from '../store/repositories/assets';
import { ConflictError, HedgerowError, NotFoundError, ValidationError } from '../errors';
import { normalizeRightOperands, validatePolicy } from '../policy';
import { validateDspMessage } from '../protocol/dsp/schema-validator';
import { joinUrl } from '../protocol/dsp/client';
import { policyRules } from '../protocol/dsp/messages';
import { buildRouter, limitOf, LIMIT_QUERY, openApiDocument, type ApiRoute, type JsonSchema } from './route-table';
import { VERSION } from '../version';
import { NEGOTIATION_STATES } from '../statemachine/negotiation';
import { TRANSFER_STATES } from '../statemachine/transfer';
import type { Transfer } from '../store/repositories/transfers';
import { gaiaxManagementRoutes, type GaiaxManagementDeps } from '../gaiax/management';
import { auditManagementRoutes } from '../audit/management';
import { consentManagementRoutes } from '../consent/management';

const ID = { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$', description: 'letters, digits and . _ ~ - (no colon: offer ids embed it)' };
const paging = { after: { type: 'string', description: 'return items after this id' }, limit: LIMIT_QUERY };

const assetInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source'],
  properties: {
    id: ID,
    title: { type: 'string', maxLength: 500 },
    description: { type: 'string', maxLength: 5000 },
    keywords: { type: 'array', items: { type: 'string', maxLength: 100 }, maxItems: 50 },
    contentType: { type: 'string', maxLength: 200 },
    originator: { type: 'string', maxLength: 500, description: 'the member farm or data subject the data comes from' },
    category: { type: 'string', minLength: 1, maxLength: 200, description: 'data category, e.g. parcel-yields; a consent limited to a category covers only assets of that category' },
    source: {
      oneOf: [
        { type: 'object', additionalProperties: false, required: ['type', 'path'], properties: { type: { const: 'file' }, path: { type: 'string', minLength: 1, maxLength: 4096 } } },
        {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'url'],
          properties: {
            type: { const: 'http' },
            url: { type: 'string', pattern: '^https?://', maxLength: 4096 },
            headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'backend credentials; stored, never returned' },
          },
        },
      ],
    },
  },
};

const policyInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['policy'],
  properties: { id: ID, title: { type: 'string', maxLength: 500 }, policy: { type: 'object' } },
};

const offerInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accessPolicyId', 'contractPolicyId', 'assetIds'],
  properties: { id: ID, accessPolicyId: ID, contractPolicyId: ID, assetIds: { type: 'array', minItems: 1, maxItems: 10000, items: ID } },
};

const counterparty = {
  counterPartyAddress: { type: 'string', pattern: '^https://', description: "the provider's DSP base URL, e.g. https://coop.example:8443/dsp/2025-1" },
  counterPartyId: { type: 'string', minLength: 1, maxLength: 500, description: "the provider's participant id" },
};

const catalogRequestInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['counterPartyAddress', 'counterPartyId'],
  properties: { ...counterparty, after: { type: 'string', maxLength: 256 }, limit: { type: 'integer', minimum: 1, maximum: 500 } },
};

const negotiationInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['counterPartyAddress', 'counterPartyId'],
  properties: {
    ...counterparty,
    offerId: { type: 'string', minLength: 1, maxLength: 1000, description: 'an offer id from the provider catalog (looked up there)' },
    datasetId: { type: 'string', minLength: 1, maxLength: 1000, description: 'the dataset of the offer (saves a catalog crawl)' },
    offer: { type: 'object', description: 'the ODRL offer as found in the catalog (instead of offerId)' },
    purpose: { type: 'string', minLength: 1, maxLength: 500, description: 'the purpose we declare: bound into the agreement as "purpose eq <purpose>"' },
  },
  anyOf: [{ required: ['offerId'] }, { required: ['offer'] }],
};

const transferInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agreementId'],
  properties: {
    agreementId: { type: 'string', minLength: 1, maxLength: 1000 },
    providerAddress: { type: 'string', pattern: '^https?://', description: "the provider's DSP base URL (default: the one the agreement was negotiated with)" },
    pushTo: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: { url: { type: 'string', pattern: '^https://' }, authorization: { type: 'string', maxLength: 4096, description: 'sent by the provider with the data' } },
    },
  },
};

/** Transfers as the API shows them: the data address carries tokens and push credentials, never returned here. */
export type PublicTransfer = Omit<Transfer, 'dataAddress'> & { dataAddress: { endpoint: unknown; endpointType: unknown } | null };

export function publicTransfer(t: Transfer): PublicTransfer {
  const { dataAddress, ...rest } = t;
  return { ...rest, dataAddress: dataAddress ? { endpoint: dataAddress.endpoint, endpointType: dataAddress.endpointType } : null };
}

/** A policy must also make a schema-valid DSP Offer, or our catalog would be invalid on the wire. */
function assertDspOffer(policy: Record<string, unknown>): void {
  const probe = {
    '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
    '@id': 'probe',
    '@type': 'Dataset',
    hasPolicy: [{ '@id': 'probe', '@type': 'Offer', ...policyRules(policy) }],
    distribution: [{ '@type': 'Distribution', format: 'probe', accessService: 'probe' }],
  };
  const check = validateDspMessage(probe, 'Dataset');
  if (!check.ok) {
    const e = check.errors[0]!;
    throw new ValidationError(`not valid in a DSP 2025-1 Offer: ${e.message}`, e.path.replace(/^\/hasPolicy\/0/, '/policy'));
  }
}

/** Assets as the API shows them: backend credentials are never returned. */
export type PublicAsset = Omit<Asset, 'source'> & { source: { type: 'file'; path: string } | { type: 'http'; url: string; hasCredentials: boolean } };

export function publicAsset(a: Asset): PublicAsset {
  const source = a.source.type === 'file' ? a.source : { type: 'http' as const, url: a.source.url, hasCredentials: !!a.source.headers && Object.keys(a.source.headers).length > 0 };
  return { ...a, source };
}

/** Lexical containment (symlinks are resolved again on every read by the data plane). */
function isUnderRoot(root: string, candidate: string): boolean {
  const base = path.resolve(root);
  const target = path.resolve(base, candidate);
  return target !== base && target.startsWith(base + path.sep) && !candidate.includes('\0');
}

export interface ManagementApiDeps {
  store: Store;
  dataspace: Dataspace;
  logger: Logger;
  /** dataplane.root: file assets must lie inside it. */
  dataRoot: string;
  gaiax?: GaiaxManagementDeps;
}

export function managementRoutes(deps: ManagementApiDeps): ApiRoute[] {
  const { store, dataspace } = deps;
  const exists = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new NotFoundError(`${what} not found`);
    return v;
  };
  const uniqueId = (given: string | undefined, taken: (id: string) => boolean, what: string) => {
    const id = given ?? crypto.randomUUID();
    if (taken(id)) throw new ConflictError(`${what} ${id} already exists`, 'ALREADY_EXISTS');
    return id;
  };

  /** A peer call; an address the SSRF guard refuses is the caller's input error, not a 403. */
  const toPeer = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('ADDRESS_')) throw new ValidationError((err as Error).message, '/counterPartyAddress');
      throw err;
    }
  };

  /** Fetch a remote catalog page and check it is a DSP Catalog. */
  const remoteCatalog = async (address: string, participantId: string, after?: string, limit?: number) => {
    const qs = new URLSearchParams({ ...(after ? { after } : {}), ...(limit ? { limit: String(limit) } : {}) }).toString();
    const url = joinUrl(address, '/catalog/request') + (qs ? `?${qs}` : '');
    const res = await toPeer(() => dataspace.client.post(url, participantId, { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }));
    if (res.status !== 200) throw new HedgerowError('PEER_ERROR', `provider answered the catalog request with HTTP ${res.status}${describePeerError(res.body)}`, { httpStatus: 502 });
    const check = validateDspMessage(res.body, 'Catalog');
    if (!check.ok) throw new HedgerowError('PEER_INVALID', `provider sent an invalid Catalog: ${check.errors[0]?.path} ${check.errors[0]?.message}`, { httpStatus: 502 });
    return res.body as Record<string, unknown>;
  };

  /** Find an offer in a provider's catalog (one dataset if given, else by crawling pages). */
  const findOffer = async (address: string, participantId: string, offerId: string, datasetId?: string) => {
    const inDataset = (ds: Record<string, unknown>) =>
      ((ds.hasPolicy as Record<string, unknown>[] | undefined) ?? []).find((o) => o['@id'] === offerId) && { offer: (ds.hasPolicy as Record<string, unknown>[]).find((o) => o['@id'] === offerId)!, datasetId: ds['@id'] as string };
    if (datasetId) {
      const res = await toPeer(() => dataspace.client.get(joinUrl(address, `/catalog/datasets/${encodeURIComponent(datasetId)}`), participantId));
      if (res.status !== 200 || !validateDspMessage(res.body, 'Dataset').ok) throw new NotFoundError(`dataset ${datasetId} not found at the provider (HTTP ${res.status})`);
      const hit = inDataset(res.body as Record<string, unknown>);
      if (hit) return hit;
    } else {
      let after: string | undefined;
      for (let page = 0; page < 200; page++) {
        const catalog = await remoteCatalog(address, participantId, after, 500);
        const datasets = (catalog.dataset as Record<string, unknown>[] | undefined) ?? [];
        for (const ds of datasets) {
          const hit = inDataset(ds);
          if (hit) return hit;
        }
        if (!datasets.length) break;
        after = datasets[datasets.length - 1]!['@id'] as string;
      }
    }
    throw new NotFoundError(`offer ${offerId} not found in the provider's catalog`);
  };

  return [
    // ---- assets
    { method: 'get', path: '/assets', tag: 'assets', summary: 'List assets (by id, paged)', query: paging, handler: ({ query }) => store.assets.page(query.after ?? '', limitOf(query)).map(publicAsset) },
    {
      method: 'post',
      path: '/assets',
      tag: 'assets',
      summary: 'Register an asset (file under the data root or HTTP backend)',
      body: assetInput,
      status: 201,
      handler: ({ body }) => {
        if (body.source.type === 'file' && !isUnderRoot(deps.dataRoot, body.source.path)) {
          throw new ValidationError('must be a path inside dataplane.root (no "..", no absolute path elsewhere)', '/source/path');
        }
        const id = uniqueId(body.id, (i) => !!store.assets.get(i), 'asset');
        return publicAsset(
          store.assets.insert({
            id,
            title: body.title ?? null,
            description: body.description ?? null,
            keywords: body.keywords ?? [],
            contentType: body.contentType ?? null,
            originator: body.originator ?? null,
            category: body.category ?? null,
            source: body.source,
          }),
        );
      },
    },
    { method: 'get', path: '/assets/:id', tag: 'assets', summary: 'Get an asset', handler: ({ params }) => publicAsset(exists(store.assets.get(params.id!), `asset ${params.id}`)) },
    {
      method: 'delete',
      path: '/assets/:id',
      tag: 'assets',
      summary: 'Delete an asset not used by any offer',
      handler: ({ params }) => {
        exists(store.assets.get(params.id!), `asset ${params.id}`);
        if (store.offers.forAsset(params.id!).length) throw new ConflictError(`asset ${params.id} is part of an offer: delete the offer first`, 'IN_USE');
        store.assets.delete(params.id!);
        return undefined;
      },
    },
    // ---- policies
    { method: 'get', path: '/policies', tag: 'policies', summary: 'List policies', query: paging, handler: ({ query }) => store.policies.list(query.after ?? '', limitOf(query)) },
    {
      method: 'post',
      path: '/policies',
      tag: 'policies',
      summary: 'Create an ODRL policy (refused with the JSON path of the first problem)',
      body: policyInput,
      status: 201,
      handler: ({ body }) => {
        const policy = normalizeRightOperands(validatePolicy(body.policy, '/policy'));
        assertDspOffer(policy as unknown as Record<string, unknown>);
        const id = uniqueId(body.id, (i) => !!store.policies.get(i), 'policy');
        return store.policies.insert({ id, title: body.title ?? null, policy });
      },
    },
    { method: 'get', path: '/policies/:id', tag: 'policies', summary: 'Get a policy', handler: ({ params }) => exists(store.policies.get(params.id!), `policy ${params.id}`) },
    {
      method: 'delete',
      path: '/policies/:id',
      tag: 'policies',
      summary: 'Delete a policy not used by any offer',
      handler: ({ params }) => {
        exists(store.policies.get(params.id!), `policy ${params.id}`);
        if (store.offers.usingPolicy(params.id!)) throw new ConflictError(`policy ${params.id} is used by an offer`, 'IN_USE');
        store.policies.delete(params.id!);
        return undefined;
      },
    },
    // ---- offers
    { method: 'get', path: '/offers', tag: 'offers', summary: 'List offers (contract definitions)', query: paging, handler: ({ query }) => store.offers.list(query.after ?? '', limitOf(query)) },
    {
      method: 'post',
      path: '/offers',
      tag: 'offers',
      summary: 'Offer assets under an access policy (who sees it) and a contract policy (what is agreed)',
      body: offerInput,
      status: 201,
      handler: ({ body }) => {
        exists(store.policies.get(body.accessPolicyId), `policy ${body.accessPolicyId}`);
        exists(store.policies.get(body.contractPolicyId), `policy ${body.contractPolicyId}`);
        (body.assetIds as string[]).forEach((a, i) => {
          if (!store.assets.get(a)) throw new ValidationError(`asset ${a} does not exist`, `/assetIds/${i}`);
        });
        const id = uniqueId(body.id, (i) => !!store.offers.get(i), 'offer');
        return store.offers.insert({ id, accessPolicyId: body.accessPolicyId, contractPolicyId: body.contractPolicyId, assetIds: body.assetIds });
      },
    },
    { method: 'get', path: '/offers/:id', tag: 'offers', summary: 'Get an offer', handler: ({ params }) => exists(store.offers.get(params.id!), `offer ${params.id}`) },
    {
      method: 'delete',
      path: '/offers/:id',
      tag: 'offers',
      summary: 'Withdraw an offer (existing agreements stay)',
      handler: ({ params }) => {
        exists(store.offers.get(params.id!), `offer ${params.id}`);
        store.offers.delete(params.id!);
        return undefined;
      },
    },
    // ---- remote catalog
    {
      method: 'post',
      path: '/catalog/request',
      tag: 'catalog',
      summary: "Fetch a provider's catalog over the Dataspace Protocol",
      body: catalogRequestInput,
      peer: true,
      handler: ({ body }) => remoteCatalog(body.counterPartyAddress, body.counterPartyId, body.after, body.limit),
    },
    // ---- negotiations
    {
      method: 'get',
      path: '/negotiations',
      tag: 'negotiations',
      summary: 'List negotiations, newest first',
      query: {
        role: { enum: ['provider', 'consumer'] },
        state: { enum: [...NEGOTIATION_STATES] },
        counterPartyId: { type: 'string' },
        assetId: { type: 'string' },
        before: { type: 'string', description: 'page: negotiations created before this one' },
        limit: paging.limit,
      },
      handler: ({ query }) =>
        store.negotiations.list({
          role: query.role as never,
          state: query.state as never,
          counterpartyId: query.counterPartyId,
          assetId: query.assetId,
          before: query.before,
          limit: limitOf(query),
        }),
    },
    {
      method: 'post',
      path: '/negotiations',
      tag: 'negotiations',
      summary: 'Start a negotiation as consumer for an offer of a provider',
      body: negotiationInput,
      peer: true,
      status: 201,
      handler: async ({ body }) => {
        let offer = body.offer as Record<string, unknown> | undefined;
        let datasetId = body.datasetId as string | undefined;
        if (!offer) ({ offer, datasetId } = await findOffer(body.counterPartyAddress, body.counterPartyId, body.offerId, datasetId));
        return dataspace.negotiations.start({ providerAddress: body.counterPartyAddress, providerId: body.counterPartyId, offer: offer!, datasetId, purpose: body.purpose });
      },
    },
    {
      method: 'get',
      path: '/negotiations/:id',
      tag: 'negotiations',
      summary: 'Get a negotiation with its timeline (messages, reasons, policy decisions)',
      handler: ({ params }) => {
        const n = exists(store.negotiations.get(params.id!), `negotiation ${params.id}`);
        return { ...n, pendingMessages: store.outbox.forProcess(n.id).map((e) => ({ messageType: e.messageType, attempts: e.attempts, lastError: e.lastError })), timeline: store.processEvents.forProcess(n.id) };
      },
    },
    {
      method: 'post',
      path: '/negotiations/:id/terminate',
      tag: 'negotiations',
      summary: 'Terminate a negotiation (the peer is told, with the reason)',
      body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1000 } } },
      handler: ({ params, body }) => dataspace.negotiations.operatorAction(params.id!, 'terminate', body.reason),
    },
    {
      method: 'post',
      path: '/negotiations/:id/accept',
      tag: 'negotiations',
      summary: "Accept the provider's offer (consumer) or agree to the request (provider)",
      handler: ({ params }) => dataspace.negotiations.operatorAction(params.id!, 'accept'),
    },
    // ---- transfers
    {
      method: 'get',
      path: '/transfers',
      tag: 'transfers',
      summary: 'List transfers, newest first',
      query: { role: { enum: ['provider', 'consumer'] }, state: { enum: [...TRANSFER_STATES] }, agreementId: { type: 'string' }, limit: paging.limit },
      handler: ({ query }) =>
        store.transfers.list({ role: query.role as never, state: query.state as never, agreementId: query.agreementId, limit: limitOf(query) }).map(publicTransfer),
    },
    {
      method: 'post',
      path: '/transfers',
      tag: 'transfers',
      summary: 'Start a transfer as consumer under an agreement (pull by default, push with pushTo)',
      body: transferInput,
      status: 201,
      handler: ({ body }) => publicTransfer(dataspace.transfers.start(body)),
    },
    {
      method: 'get',
      path: '/transfers/:id',
      tag: 'transfers',
      summary: 'Get a transfer with its timeline (tokens are not shown)',
      handler: ({ params }) => {
        const t = exists(store.transfers.get(params.id!), `transfer ${params.id}`);
        return { ...publicTransfer(t), pendingMessages: store.outbox.forProcess(t.id).map((e) => ({ messageType: e.messageType, attempts: e.attempts, lastError: e.lastError })), timeline: store.processEvents.forProcess(t.id) };
      },
    },
    ...(['suspend', 'resume', 'complete', 'terminate'] as const).map(
      (action): ApiRoute => ({
        method: 'post',
        path: `/transfers/:id/${action}`,
        tag: 'transfers',
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a transfer (the peer is told)`,
        body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1000 } } },
        handler: ({ params, body }) => publicTransfer(dataspace.transfers.operatorAction(params.id!, action, body.reason)),
      }),
    ),
    {
      method: 'get',
      path: '/transfers/:id/data-address',
      tag: 'transfers',
      summary: 'The pull endpoint and a valid token (refreshed when close to expiry), for a local downloader',
      peer: true,
      handler: ({ params }) => dataspace.consumerData.target(params.id!),
    },
    {
      method: 'post',
      path: '/transfers/:id/token',
      tag: 'transfers',
      summary: 'Get a fresh pull token from the provider (while the transfer is STARTED)',
      peer: true,
      handler: ({ params }) => dataspace.consumerData.refresh(params.id!),
    },
    {
      method: 'post',
      path: '/transfers/:id/download',
      tag: 'transfers',
      summary: 'Pull the data into dataplane.downloadDir: resumable, SHA-256 verified, renamed only when complete',
      peer: true,
      body: { type: 'object', additionalProperties: false, properties: { fileName: { type: 'string', maxLength: 200 }, complete: { type: 'boolean' } } },
      handler: ({ params, body }) => dataspace.consumerData.download(params.id!, body),
    },
    {
      method: 'post',
      path: '/transfers/:id/received',
      tag: 'transfers',
      summary: 'Record a copy fetched outside the connector (hedgerow fetch): the agreement duties (log, notify, delete) then apply to it',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'bytes', 'sha256'],
        properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, bytes: { type: 'integer', minimum: 0 }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
      },
      handler: ({ params, body }) => {
        const t = exists(store.transfers.get(params.id!), `transfer ${params.id}`);
        if (t.role !== 'consumer') throw new ConflictError(`transfer ${t.id} is a provider transfer`, 'NOT_A_CONSUMER_TRANSFER');
        dataspace.consumerData.recordReceived(t.id, body.path, { bytes: body.bytes, sha256: body.sha256 });
        return publicTransfer(store.transfers.get(t.id)!);
      },
    },
    {
      method: 'get',
      path: '/transfers/:id/data',
      tag: 'transfers',
      summary: 'Stream the data to the caller (Range passed through for resumption)',
      peer: true,
      raw: { mediaType: 'application/octet-stream' },
      handler: ({ params, header, res }) => dataspace.consumerData.stream(params.id!, header?.('range'), res!),
    },
    // ---- agreements
    {
      method: 'get',
      path: '/agreements',
      tag: 'agreements',
      summary: 'List agreements',
      query: { role: { enum: ['provider', 'consumer'] }, status: { enum: ['pending', 'active', 'revoked'] }, assetId: { type: 'string' }, limit: paging.limit },
      handler: ({ query }) => store.agreements.list({ role: query.role as never, status: query.status as never, assetId: query.assetId, limit: limitOf(query) }),
    },
    {
      method: 'get',
      path: '/agreements/:id',
      tag: 'agreements',
      summary: 'Get an agreement',
      handler: ({ params }) => exists(store.agreements.get(params.id!, 'consumer') ?? store.agreements.get(params.id!, 'provider'), `agreement ${params.id}`),
    },
    {
      method: 'get',
      path: '/agreements/:id/deletion-receipts',
      tag: 'agreements',
      summary: 'Signed deletion receipts received from the consumer of an agreement (provider side)',
      handler: ({ params }) => store.deletionReceipts.forAgreement(params.id!),
    },
    // ---- farmer consent and participant groups
    ...consentManagementRoutes(dataspace.consents && dataspace.groups ? { consents: dataspace.consents, groups: dataspace.groups } : undefined),
    // ---- Gaia-X
    ...gaiaxManagementRoutes(deps.gaiax),
    // ---- audit trail
    ...auditManagementRoutes(() => dataspace.audit),
  ];
}

function describePeerError(body: unknown): string {
  const reason = (body as { reason?: unknown } | null)?.reason;
  return Array.isArray(reason) && reason.length ? `: ${reason.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('; ').slice(0, 300)}` : '';
}

export function createManagementApi(deps: ManagementApiDeps): Router {
  const routes = managementRoutes(deps);
  const router = expressLib().Router();
  const doc = openApiDocument(routes, { title: 'hedgerow management API', version: VERSION });
  router.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  router.use(buildRouter(routes));
  return router;
}
