import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthService } from '../health/health-service';
import type { Metrics } from '../health/metrics';
import type { Logger } from '../log/logger';
import { describeError } from '../errors';
import { errorBody } from './errors';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Health, liveness and readiness of the management listener, answered without express: systemd,
 * Docker and Kubernetes probe these every few seconds, and an idle edge box should not load the
 * HTTP framework just for them. Unauthenticated on purpose. Every other request goes to `next`.
 */
export function healthEndpoints(deps: { health: HealthService; metrics: Metrics }, next: RequestHandler): RequestHandler {
  const answers: Record<string, () => { status: number; body: unknown }> = {
    '/health': () => {
      const report = deps.health.report();
      return { status: report.status === 'failing' ? 503 : 200, body: report };
    },
    '/health/live': () => ({ status: 200, body: { live: true } }),
    '/health/ready': () => {
      const report = deps.health.report();
      return { status: report.ready ? 200 : 503, body: { ready: report.ready, status: report.status } };
    },
  };
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0]!.replace(/(.)\/$/, '$1');
    const answer = (req.method === 'GET' || req.method === 'HEAD') && Object.hasOwn(answers, path) ? answers[path]! : undefined;
    if (!answer) return next(req, res);
    const started = performance.now();
    const { status, body } = answer();
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
    res.end(req.method === 'HEAD' ? undefined : json);
    deps.metrics.observe({ listener: 'management', method: req.method!, route: path, status: String(status) }, (performance.now() - started) / 1000);
  };
}

/**
 * A request handler built on the first request that reaches it: express, the routers and the
 * services' route modules stay unloaded while nobody calls. If building fails, that request gets a
 * 500 and the next one tries again (a throw here would end the process).
 */
export function onFirstRequest(build: () => RequestHandler, logger: Logger): RequestHandler {
  let handler: RequestHandler | undefined;
  return (req, res) => {
    try {
      handler ??= build();
    } catch (err) {
      logger.error('building the HTTP application failed', { error: describeError(err) });
      const json = JSON.stringify(errorBody('INTERNAL', 'the connector could not build its HTTP application; see its log'));
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
      res.end(json);
      return;
    }
    handler(req, res);
  };
}
