import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthService } from '../health/health-service';
import type { Metrics } from '../health/metrics';

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
 * services' route modules stay unloaded while nobody calls.
 */
export function onFirstRequest(build: () => RequestHandler): RequestHandler {
  let handler: RequestHandler | undefined;
  return (req, res) => {
    handler ??= build();
    handler(req, res);
  };
}
