import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CollectedValue, Counter, Histogram, PROMETHEUS_CONTENT_TYPE, Registry, formatValue } from '../../src/health/prometheus';
import { Metrics, eventLoopLagSeconds, type MetricSources } from '../../src/health/metrics';

describe('Prometheus text exposition', () => {
  it('renders a counter per label set, in declared label order and first-seen series order', async () => {
    const registry = new Registry();
    const requests = registry.register(new Counter({ name: 'app_requests_total', help: 'Requests', labelNames: ['method', 'status'] }));
    requests.inc({ status: '200', method: 'GET' });
    requests.inc({ method: 'POST', status: '201' }, 2.5);
    requests.inc({ method: 'GET', status: '200' });
    expect(await registry.render()).toBe(
      [
        '# HELP app_requests_total Requests',
        '# TYPE app_requests_total counter',
        'app_requests_total{method="GET",status="200"} 2',
        'app_requests_total{method="POST",status="201"} 2.5',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslash, double quote and newline in label values, backslash and newline in HELP', async () => {
    const registry = new Registry();
    const counter = registry.register(new Counter({ name: 'app_odd_total', help: 'C:\\dir "quoted"\nsecond line', labelNames: ['path'] }));
    counter.inc({ path: 'a\\b"c\nd' });
    expect(await registry.render()).toBe(
      ['# HELP app_odd_total C:\\\\dir "quoted"\\nsecond line', '# TYPE app_odd_total counter', 'app_odd_total{path="a\\\\b\\"c\\nd"} 1', ''].join('\n'),
    );
  });

  // Observations are binary fractions so that the expected _sum is exact.
  it('renders histogram buckets cumulatively with +Inf, _sum and _count; a bound is inclusive', async () => {
    const registry = new Registry();
    const latency = registry.register(new Histogram({ name: 'app_seconds', help: 'Latency', labelNames: ['route'], buckets: [0.125, 1] }));
    latency.observe({ route: '/a' }, 0.0625);
    latency.observe({ route: '/a' }, 0.125);
    latency.observe({ route: '/a' }, 0.5);
    latency.observe({ route: '/a' }, 3);
    latency.observe({ route: '/b' }, 2);
    expect(await registry.render()).toBe(
      [
        '# HELP app_seconds Latency',
        '# TYPE app_seconds histogram',
        'app_seconds_bucket{route="/a",le="0.125"} 2',
        'app_seconds_bucket{route="/a",le="1"} 3',
        'app_seconds_bucket{route="/a",le="+Inf"} 4',
        'app_seconds_sum{route="/a"} 3.6875',
        'app_seconds_count{route="/a"} 4',
        'app_seconds_bucket{route="/b",le="0.125"} 0',
        'app_seconds_bucket{route="/b",le="1"} 0',
        'app_seconds_bucket{route="/b",le="+Inf"} 1',
        'app_seconds_sum{route="/b"} 2',
        'app_seconds_count{route="/b"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders a histogram without labels with le alone in the braces', async () => {
    const histogram = new Histogram({ name: 'app_bytes', help: 'Sizes', labelNames: [], buckets: [10] });
    histogram.observe({}, 4);
    expect(histogram.render()).toBe(
      [
        '# HELP app_bytes Sizes',
        '# TYPE app_bytes histogram',
        'app_bytes_bucket{le="10"} 1',
        'app_bytes_bucket{le="+Inf"} 1',
        'app_bytes_sum 4',
        'app_bytes_count 1',
        '',
      ].join('\n'),
    );
  });

  it('reads collected values at scrape time, leaves out those that return null, keeps constant labels', async () => {
    const registry = new Registry();
    let temperature: number | null = null;
    registry.register(new CollectedValue({ type: 'gauge', name: 'app_temperature_celsius', help: 'Temperature', collect: () => temperature }));
    registry.register(new CollectedValue({ type: 'counter', name: 'app_cpu_seconds_total', help: 'CPU', collect: async () => 1.25 }));
    registry.register(
      new CollectedValue({ type: 'gauge', name: 'app_info', help: 'Build', labels: { version: 'v1 "beta"' }, collect: () => 1 }),
    );
    const cpuAndInfo = [
      '# HELP app_cpu_seconds_total CPU',
      '# TYPE app_cpu_seconds_total counter',
      'app_cpu_seconds_total 1.25',
      '# HELP app_info Build',
      '# TYPE app_info gauge',
      'app_info{version="v1 \\"beta\\""} 1',
      '',
    ];
    expect(await registry.render()).toBe(cpuAndInfo.join('\n'));

    temperature = 41.5;
    expect(await registry.render()).toBe(
      ['# HELP app_temperature_celsius Temperature', '# TYPE app_temperature_celsius gauge', 'app_temperature_celsius 41.5', ...cpuAndInfo].join('\n'),
    );
  });

  it('leaves out counters and histograms that have no series yet', async () => {
    const registry = new Registry();
    registry.register(new Counter({ name: 'app_total', help: 'x', labelNames: ['a'] }));
    registry.register(new Histogram({ name: 'app_seconds', help: 'x', labelNames: [], buckets: [1] }));
    expect(await registry.render()).toBe('');
  });

  it('spells infinities as Prometheus does', () => {
    expect([Infinity, -Infinity, NaN, 0.001, 1e21].map(formatValue)).toEqual(['+Inf', '-Inf', 'NaN', '0.001', '1e+21']);
  });

  it('refuses duplicate or invalid names, le as a histogram label, unsorted buckets and a decreasing counter', () => {
    const registry = new Registry();
    registry.register(new Counter({ name: 'app_total', help: 'x', labelNames: [] }));
    expect(() => registry.register(new Counter({ name: 'app_total', help: 'y', labelNames: [] }))).toThrow(/already registered/);
    expect(() => new Counter({ name: 'app-total', help: 'x', labelNames: [] })).toThrow(/invalid metric name/);
    expect(() => new Counter({ name: 'app_total', help: 'x', labelNames: ['__reserved'] })).toThrow(/invalid label name/);
    expect(() => new Histogram({ name: 'app_seconds', help: 'x', labelNames: ['le'], buckets: [1] })).toThrow(/le/);
    expect(() => new Histogram({ name: 'app_seconds', help: 'x', labelNames: [], buckets: [1, 0.5] })).toThrow(/ascending/);
    expect(() => new Histogram({ name: 'app_seconds', help: 'x', labelNames: [], buckets: [1, Infinity] })).toThrow(/finite/);
    const counter = new Counter({ name: 'app_total', help: 'x', labelNames: [] });
    expect(() => counter.inc({}, -1)).toThrow(/cannot decrease/);
  });
});

describe('connector metrics', () => {
  const sources: MetricSources = {
    databaseFiles: () => [__filename, '/nonexistent/hedgerow.db-wal'],
    dataDirFreeBytes: () => 123456,
    certificateDaysToExpiry: () => 89.5,
    cpuTemperatureCelsius: () => null,
  };

  it('records a request under its matched route, not the raw URL', async () => {
    const metrics = new Metrics(sources);
    const app = express();
    app.use(metrics.httpMiddleware('public'));
    const router = express.Router();
    router.get('/items/:id', (_req, res) => {
      res.send('ok');
    });
    app.use('/api', router);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/api/items/42`)).status).toBe(200);
      expect((await fetch(`${base}/api/items/43`)).status).toBe(200);
      expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    const { contentType, body } = await metrics.render();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(contentType).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(body).toContain('# TYPE hedgerow_http_requests_total counter\n');
    expect(body).toContain('\nhedgerow_http_requests_total{listener="public",method="GET",route="/api/items/:id",status="200"} 2\n');
    expect(body).toContain('\nhedgerow_http_requests_total{listener="public",method="GET",route="unmatched",status="404"} 1\n');
    expect(body).not.toContain('/api/items/42');
    expect(body).toContain(
      '\nhedgerow_http_request_duration_seconds_bucket{listener="public",method="GET",route="/api/items/:id",status="200",le="+Inf"} 2\n',
    );
    expect(body).toMatch(/\nhedgerow_http_request_duration_seconds_sum\{listener="public",method="GET",route="\/api\/items\/:id",status="200"\} \d/);
  });

  it('exposes process, Node.js and connector figures, leaving out an unknown temperature', async () => {
    const { body } = await new Metrics(sources).render();
    const value = (name: string) => {
      const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
      if (!match) throw new Error(`${name} missing from:\n${body}`);
      return Number(match[1]);
    };
    expect(value('hedgerow_process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('hedgerow_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('hedgerow_process_cpu_seconds_total')).toBeGreaterThanOrEqual(value('hedgerow_process_cpu_user_seconds_total'));
    expect(Math.abs(value('hedgerow_process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    expect(value('hedgerow_nodejs_heap_size_used_bytes')).toBeLessThanOrEqual(value('hedgerow_nodejs_heap_size_total_bytes'));
    expect(value('hedgerow_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(body).toContain(`hedgerow_nodejs_version_info{version="${process.version}",major="`);
    expect(value('hedgerow_database_size_bytes')).toBe(fs.statSync(__filename).size);
    expect(value('hedgerow_data_dir_free_bytes')).toBe(123456);
    expect(value('hedgerow_certificate_expiry_days')).toBe(89.5);
    expect(body).not.toContain('hedgerow_cpu_temperature_celsius');
    expect(body).toContain('# TYPE hedgerow_process_cpu_seconds_total counter\n');
    expect(body).toContain('# TYPE hedgerow_process_resident_memory_bytes gauge\n');
  });

  it('measures event-loop lag as the wait of a callback scheduled at scrape time', async () => {
    const lag = eventLoopLagSeconds();
    const blockedUntil = Date.now() + 60;
    while (Date.now() < blockedUntil) {
      /* keep the loop busy, as a long synchronous task would */
    }
    expect(await lag).toBeGreaterThanOrEqual(0.055);
  });
});
