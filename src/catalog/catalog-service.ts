import crypto from 'node:crypto';
import type { Store } from '../store/store';
import type { Asset } from '../store/repositories/assets';
import type { OfferTerms } from '../store/repositories/offers';
import { compilePolicy, evaluate, type CompiledPolicy, type Decision, type PolicyFacts } from '../policy';
import { dspContext } from '../protocol/dsp/schema-validator';
import { DspBadRequestError } from '../protocol/dsp/errors';
import { policyRules } from '../protocol/dsp/messages';
import { NotFoundError } from '../errors';

/** Data plane formats this connector serves, advertised as Distributions. */
export const DISTRIBUTION_FORMATS = ['HttpData-PULL', 'HttpData-PUSH'] as const;

export interface CatalogPage {
  catalog: Record<string, unknown>;
  /** Keyset cursors for RFC 5988 Link headers. */
  next: string | null;
  previous: string | null;
}

/** A catalog offer resolved back to what we published: the definition, the asset and the contract policy. */
export interface ResolvedOffer {
  offerId: string;
  asset: Asset;
  definition: OfferTerms;
  /** The ODRL Offer exactly as the catalog shows it (no target). */
  offer: Record<string, unknown>;
  contractPolicy: Record<string, unknown>;
  accessDecision: Decision;
}

const ID_SEPARATOR = ':';

/**
 * Catalog offer ids: `<offer definition id>:<asset id>:<contract policy digest>`. The digest changes
 * when the policy changes, so an old offer id never silently binds to new terms.
 */
export function catalogOfferId(definitionId: string, assetId: string, contractPolicy: unknown): string {
  return [definitionId, assetId, policyDigest(contractPolicy)].join(ID_SEPARATOR);
}

function policyDigest(policy: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(policy)).digest('hex').slice(0, 12);
}

interface CachedPolicy {
  raw: Record<string, unknown>;
  rules: Record<string, unknown>;
  compiled: CompiledPolicy;
  digest: string;
}
type PolicyCache = Map<string, CachedPolicy | null>;

export function parseCatalogOfferId(offerId: string): { definitionId: string; assetId: string; digest: string } | null {
  const parts = offerId.split(ID_SEPARATOR);
  if (parts.length !== 3 || parts.some((p) => !p)) return null;
  return { definitionId: parts[0]!, assetId: parts[1]!, digest: parts[2]! };
}

/**
 * Builds the DCAT catalog a given requester may see. Pagination runs over assets in id order
 * (keyset, indexed) before policies are evaluated, so a page costs the same with 10 or 100,000 assets.
 */
export class CatalogService {
  constructor(
    private readonly deps: {
      store: Store;
      participantId: () => string;
      dspBaseUrl: () => string;
      pageSize: number;
    },
  ) {}

  private serviceId(): string {
    return `${this.deps.dspBaseUrl()}#dataservice`;
  }

  private dataService(): Record<string, unknown> {
    return { '@id': this.serviceId(), '@type': 'DataService', endpointURL: this.deps.dspBaseUrl() };
  }

  /** Offers of one asset visible to the requester, with their access decisions. */
  private visibleOffers(asset: Asset, facts: PolicyFacts, cache: PolicyCache): ResolvedOffer[] {
    const out: ResolvedOffer[] = [];
    for (const definition of this.deps.store.offers.forAsset(asset.id)) {
      const access = this.policy(definition.accessPolicyId, cache);
      const contract = this.policy(definition.contractPolicyId, cache);
      if (!access || !contract) continue;
      const accessDecision = evaluate(access.compiled, { scope: 'catalog', facts });
      if (!accessDecision.allowed) continue;
      const offerId = [definition.id, asset.id, contract.digest].join(ID_SEPARATOR);
      out.push({ offerId, asset, definition, offer: { '@id': offerId, '@type': 'Offer', ...contract.rules }, contractPolicy: contract.raw, accessDecision });
    }
    return out;
  }

  /** A policy loaded, compiled and digested once per catalog request, however many assets use it. */
  private policy(policyId: string, cache: PolicyCache): CachedPolicy | null {
    if (!cache.has(policyId)) {
      const def = this.deps.store.policies.get(policyId);
      const raw = def?.policy as unknown as Record<string, unknown> | undefined;
      cache.set(policyId, raw ? { raw, rules: policyRules(raw), compiled: compilePolicy(def!.policy), digest: policyDigest(raw) } : null);
    }
    return cache.get(policyId)!;
  }

  private datasetJson(asset: Asset, offers: ResolvedOffer[]): Record<string, unknown> {
    const dataset: Record<string, unknown> = { '@id': asset.id, '@type': 'Dataset' };
    if (asset.title) dataset['dct:title'] = asset.title;
    if (asset.description) dataset['dct:description'] = asset.description;
    if (asset.keywords.length) dataset['dcat:keyword'] = asset.keywords;
    if (asset.contentType) dataset['dcat:mediaType'] = asset.contentType;
    dataset.hasPolicy = offers.map((o) => o.offer);
    dataset.distribution = DISTRIBUTION_FORMATS.map((format) => ({ '@type': 'Distribution', format, accessService: this.serviceId() }));
    return dataset;
  }

  page(facts: PolicyFacts, cursor: { after?: string; before?: string }, limit = this.deps.pageSize): CatalogPage {
    const size = Math.max(1, Math.min(limit, 500));
    let assets: Asset[];
    if (cursor.before !== undefined) assets = this.deps.store.assets.pageBefore(cursor.before, size + 1).reverse();
    else assets = this.deps.store.assets.page(cursor.after ?? '', size + 1);
    const more = assets.length > size;
    if (more) assets = cursor.before !== undefined ? assets.slice(1) : assets.slice(0, size);
    const cache: PolicyCache = new Map();
    const datasets = assets
      .map((asset) => ({ asset, offers: this.visibleOffers(asset, facts, cache) }))
      .filter((d) => d.offers.length > 0)
      .map((d) => this.datasetJson(d.asset, d.offers));
    const catalog: Record<string, unknown> = {
      '@context': dspContext(),
      '@id': `${this.deps.dspBaseUrl()}#catalog`,
      '@type': 'Catalog',
      participantId: this.deps.participantId(),
      service: [this.dataService()],
    };
    if (datasets.length) catalog.dataset = datasets; // the schema rejects an empty array
    const first = assets[0]?.id;
    const last = assets[assets.length - 1]?.id;
    const hasNext = cursor.before !== undefined ? last !== undefined : more;
    const hasPrevious = cursor.before !== undefined ? more : cursor.after !== undefined && cursor.after !== '' && first !== undefined;
    return { catalog, next: hasNext && last ? last : null, previous: hasPrevious && first ? first : null };
  }

  dataset(facts: PolicyFacts, id: string): Record<string, unknown> {
    const asset = this.deps.store.assets.get(id);
    const offers = asset ? this.visibleOffers(asset, facts, new Map()) : [];
    // Hidden and unknown look the same: nothing tells a requester that a dataset exists.
    if (!asset || offers.length === 0) throw new NotFoundError(`dataset ${id} not found`, 'DATASET_NOT_FOUND');
    return { '@context': dspContext(), ...this.datasetJson(asset, offers) };
  }

  /** Resolve an offer a consumer requested back to a published, visible offer for that target. */
  resolveOffer(facts: PolicyFacts, offerId: string, target: string | undefined): ResolvedOffer {
    const parsed = parseCatalogOfferId(offerId);
    if (!parsed) throw new DspBadRequestError('UNKNOWN_OFFER', [`offer ${offerId} is not an offer of this connector`]);
    if (target !== undefined && target !== parsed.assetId) {
      throw new DspBadRequestError('OFFER_TARGET_MISMATCH', [`offer ${offerId} is not an offer for dataset ${target}`]);
    }
    const asset = this.deps.store.assets.get(parsed.assetId);
    const found = asset ? this.visibleOffers(asset, facts, new Map()).find((o) => o.definition.id === parsed.definitionId) : undefined;
    if (!found) throw new DspBadRequestError('UNKNOWN_OFFER', [`offer ${offerId} is not an offer of this connector`]);
    return found;
  }
}
