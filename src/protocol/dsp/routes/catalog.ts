import type { Router } from 'express';
import { expressLib } from '../../../lazy';
import type { CatalogService } from '../../../catalog/catalog-service';
import { claimsOf } from '../../../process/process-service';
import type { FactProvider } from '../../../usage/facts';
import { dspEndpoint, type DspContext } from '../handler';
import { DspBadRequestError } from '../errors';
import { DSP_BASE_PATH } from '../paths';

function pageParams(query: Record<string, unknown>): { after?: string; before?: string; limit?: number } {
  const str = (v: unknown) => (typeof v === 'string' && v.length <= 256 ? v : undefined);
  const limit = str(query.limit) !== undefined ? Number(query.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) {
    throw new DspBadRequestError('BAD_PAGE', ['limit must be an integer between 1 and 500']);
  }
  return { after: str(query.after), before: str(query.before), ...(limit ? { limit } : {}) };
}

/** Catalog protocol, provider side: POST /catalog/request and GET /catalog/datasets/:id. */
export function catalogRoutes(ctx: DspContext & { catalog: CatalogService; facts: FactProvider; publicUrl: () => string }): Router {
  const router = expressLib().Router();

  router.post(
    '/catalog/request',
    dspEndpoint(ctx, 'catalog', ['CatalogRequestMessage'], ({ peer, body, query }) => {
      if (Array.isArray(body.filter) ? body.filter.length > 0 : body.filter !== undefined) {
        throw new DspBadRequestError('FILTER_UNSUPPORTED', ['catalog filters are not supported: crawl the catalog and filter locally']);
      }
      const page = pageParams(query);
      const facts = ctx.facts.identity(peer.participantId, claimsOf(peer));
      const result = ctx.catalog.page(facts, { after: page.after, before: page.before }, page.limit);
      const link = (rel: string, key: string, cursor: string) =>
        `<${ctx.publicUrl()}${DSP_BASE_PATH}/catalog/request?${key}=${encodeURIComponent(cursor)}${page.limit ? `&limit=${page.limit}` : ''}>; rel="${rel}"`;
      const links = [result.next && link('next', 'after', result.next), result.previous && link('previous', 'before', result.previous)].filter(Boolean);
      return { status: 200, body: result.catalog, headers: links.length ? { Link: links.join(', ') } : undefined };
    }),
  );

  router.get(
    '/catalog/datasets/:id',
    dspEndpoint(ctx, 'catalog', null, ({ peer, params }) => {
      const facts = ctx.facts.identity(peer.participantId, claimsOf(peer));
      return { status: 200, body: ctx.catalog.dataset(facts, params.id!) };
    }),
  );
  return router;
}
