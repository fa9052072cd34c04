import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from '../log/logger';
import type { Metrics } from '../health/metrics';
import type { Store } from '../store/store';
import { errorBody, jsonErrorHandler, notFoundHandler } from './errors';
import type { HealthService } from '../health/health-service';

export interface ManagementAppDeps {
  store: Store;
  health: HealthService;
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

/** The local management listener: health (open), metrics and everything else (API key). */
export function createManagementApp(deps: ManagementAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(deps.metrics.httpMiddleware('management'));

  // Liveness and readiness stay unauthenticated so that systemd, Docker and Kubernetes can probe them.
  app.get('/health', (_req, res) => {
    const report = deps.health.report();
    res.status(report.status === 'failing' ? 503 : 200).json(report);
  });
  app.get('/health/live', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/health/ready', (_req, res) => {
    const report = deps.health.report();
    res.status(report.ready ? 200 : 503).json({ ready: report.ready, status: report.status });
  });

  app.use(apiKeyGuard(deps.store, deps.logger));
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.type(contentType).send(body);
  });
  app.use(express.json({ limit: '1mb' }));
  for (const { path, router } of deps.routers ?? []) app.use(path, router);

  app.use(notFoundHandler);
  app.use(jsonErrorHandler(deps.logger));
  return app;
}
