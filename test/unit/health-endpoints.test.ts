import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthEndpoints, onFirstRequest, type RequestHandler } from '../../src/server/health-endpoints';
import { Metrics } from '../../src/health/metrics';
import type { HealthService } from '../../src/health/health-service';
import { silentLogger } from '../../src/log/logger';

/** A real HTTP server around a handler; returns its base URL and a closer. */
async function serve(handler: RequestHandler): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const metrics = () => new Metrics({ databaseFiles: () => [], dataDirFreeBytes: () => null, certificateDaysToExpiry: () => null, cpuTemperatureCelsius: () => null });

describe('health endpoints in front of the lazily built application', () => {
  const report = { status: 'failing', ready: false, live: true } as unknown as ReturnType<HealthService['report']>;
  const health = { report: () => report } as unknown as HealthService;
  const passedOn: string[] = [];
  const next: RequestHandler = (req, res) => {
    passedOn.push(`${req.method} ${req.url}`);
    res.writeHead(418).end();
  };
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    server = await serve(healthEndpoints({ health, metrics: metrics() }, next));
  });
  afterAll(() => server.close());

  it('answers the three probes itself, with the status the report implies', async () => {
    const h = await fetch(`${server.url}/health?full=1`);
    expect([h.status, h.headers.get('content-type'), await h.json()]).toEqual([503, 'application/json; charset=utf-8', report]);
    const live = await fetch(`${server.url}/health/live/`);
    expect([live.status, await live.json()]).toEqual([200, { live: true }]);
    const ready = await fetch(`${server.url}/health/ready`);
    expect([ready.status, await ready.json()]).toEqual([503, { ready: false, status: 'failing' }]);
    expect(passedOn).toEqual([]);
  });

  it('passes every other request on', async () => {
    for (const [method, p] of [['POST', '/health'], ['GET', '/healthz'], ['GET', '/api/v1/assets'], ['GET', '/health/live/x']] as const) {
      expect((await fetch(`${server.url}${p}`, { method })).status).toBe(418);
    }
    expect(passedOn).toEqual(['POST /health', 'GET /healthz', 'GET /api/v1/assets', 'GET /health/live/x']);
  });
});

describe('onFirstRequest', () => {
  it('builds once, on the first request', async () => {
    let builds = 0;
    const server = await serve(
      onFirstRequest(() => {
        builds++;
        return (_req, res) => res.writeHead(204).end();
      }, silentLogger),
    );
    try {
      expect(builds).toBe(0);
      for (let i = 0; i < 3; i++) expect((await fetch(server.url)).status).toBe(204);
      expect(builds).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('answers 500 and logs when building fails, and tries again on the next request', async () => {
    const errors: string[] = [];
    let attempt = 0;
    const server = await serve(
      onFirstRequest(
        () => {
          if (++attempt === 1) throw new Error('route table broken');
          return (_req, res) => res.writeHead(204).end();
        },
        { ...silentLogger, error: (msg: string) => errors.push(msg) },
      ),
    );
    try {
      const failed = await fetch(server.url);
      expect(failed.status).toBe(500);
      expect(await failed.json()).toMatchObject({ error: { code: 'INTERNAL' } });
      expect(errors).toEqual(['building the HTTP application failed']);
      expect((await fetch(server.url)).status).toBe(204);
    } finally {
      await server.close();
    }
  });
});
