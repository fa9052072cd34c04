import type { Express, NextFunction, Request, Response, Router } from 'express';
import { expressLib } from '../lazy';
import type { Logger } from '../log/logger';
import type { Metrics } from '../health/metrics';
import type { Store } from '../store/store';
import { errorBody, jsonErrorHandler, notFoundHandler } from './errors';

export interface ManagementAppDeps {
  store: Store;
  metrics: Metrics;
  logger: Logger;
  /** Routers of later capabilities (DSP management, data plane, ...), mounted behind the API key. */
  routers?: Array<{ path: string; router: Router }>;
}

/** API key from `Authorization: Bearer <key>` or `X-Api-Key: <key>`. */
function presentedKey(req: Request): string | undefined {
  const auth = req.get('authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return req.get('x-api-key')?.trim() || undefined;
}

export function apiKeyGuard(store: Store, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const key = presentedKey(req);
    if (key && store.apiKeys.verify(key)) return next();
    logger.warn('management API request rejected', { method: req.method, path: req.path, reason: key ? 'unknown API key' : 'no API key' });
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer realm="hedgerow-management"')
      .json(errorBody('UNAUTHENTICATED', key ? 'invalid API key' : 'API key required (Authorization: Bearer <key> or X-Api-Key)'));
  };
}

/**
 * The local management listener behind its health endpoints (health-endpoints.ts, open): metrics and
 * everything else, behind the API key.
 */
export function createManagementApp(deps: ManagementAppDeps): Express {
  const app = expressLib()();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(deps.metrics.httpMiddleware('management'));

  app.use(apiKeyGuard(deps.store, deps.logger));
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.type(contentType).send(body);
  });
  app.use(expressLib().json({ limit: '1mb' }));
  for (const { path, router } of deps.routers ?? []) app.use(path, router);

  app.use(notFoundHandler);
  app.use(jsonErrorHandler(deps.logger));
  return app;
}
