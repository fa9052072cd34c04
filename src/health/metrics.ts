import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, Response } from 'express';
import { CollectedValue, Counter, Histogram, PROMETHEUS_CONTENT_TYPE, Registry } from './prometheus';

export interface MetricSources {
  databaseFiles: () => string[];
  dataDirFreeBytes: () => number | null;
  certificateDaysToExpiry: () => number | null;
  cpuTemperatureCelsius: () => number | null;
}

type HttpLabel = 'listener' | 'method' | 'route' | 'status';

/**
 * Event-loop lag, measured only when scraped: how long a setImmediate scheduled now waits before it
 * runs. Nothing samples between scrapes, so an idle connector has no timer waking the board up, as a
 * sampling monitor (perf_hooks.monitorEventLoopDelay) would. The price: one sample per scrape, so a
 * stall between two scrapes goes unseen.
 */
export function eventLoopLagSeconds(): Promise<number> {
  const scheduled = performance.now();
  return new Promise((resolve) => setImmediate(() => resolve((performance.now() - scheduled) / 1000)));
}

/** Linux only; elsewhere the metric is left out. The directory listing holds its own descriptor, hence - 1. */
function openFileDescriptors(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/**
 * Prometheus metrics: HTTP requests by matched route, process and Node.js figures, and the
 * connector's own gauges, all read at scrape time from cheap or cached sources.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<HttpLabel>;
  private readonly requestCount: Counter<HttpLabel>;

  constructor(sources: MetricSources) {
    const labelNames: HttpLabel[] = ['listener', 'method', 'route', 'status'];
    this.requestDuration = this.registry.register(
      new Histogram({
        name: 'hedgerow_http_request_duration_seconds',
        help: 'HTTP request latency by listener, route and status',
        labelNames,
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      }),
    );
    this.requestCount = this.registry.register(
      new Counter({ name: 'hedgerow_http_requests_total', help: 'HTTP requests by listener, route and status', labelNames }),
    );

    const collected = (type: 'counter' | 'gauge', name: string, help: string, collect: () => number | null | Promise<number | null>) =>
      this.registry.register(new CollectedValue({ type, name, help, collect }));

    const startTimeSeconds = Math.round(Date.now() / 1000 - process.uptime());
    collected('counter', 'hedgerow_process_cpu_user_seconds_total', 'User CPU time spent in seconds', () => process.cpuUsage().user / 1e6);
    collected('counter', 'hedgerow_process_cpu_system_seconds_total', 'System CPU time spent in seconds', () => process.cpuUsage().system / 1e6);
    collected('counter', 'hedgerow_process_cpu_seconds_total', 'Total user and system CPU time spent in seconds', () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    });
    collected('gauge', 'hedgerow_process_start_time_seconds', 'Start time of the process since the Unix epoch in seconds', () => startTimeSeconds);
    collected('gauge', 'hedgerow_process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss());
    collected('gauge', 'hedgerow_process_open_fds', 'Number of open file descriptors', openFileDescriptors);
    collected('gauge', 'hedgerow_nodejs_heap_size_total_bytes', 'V8 heap size in bytes', () => process.memoryUsage().heapTotal);
    collected('gauge', 'hedgerow_nodejs_heap_size_used_bytes', 'V8 heap used in bytes', () => process.memoryUsage().heapUsed);
    collected('gauge', 'hedgerow_nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects in bytes', () => process.memoryUsage().external);
    collected('gauge', 'hedgerow_nodejs_eventloop_lag_seconds', 'Event-loop lag in seconds, measured at scrape time', eventLoopLagSeconds);
    const [major, minor, patch] = process.versions.node.split('.');
    this.registry.register(
      new CollectedValue({
        type: 'gauge',
        name: 'hedgerow_nodejs_version_info',
        help: 'Node.js version',
        labels: { version: process.version, major: major!, minor: minor!, patch: patch! },
        collect: () => 1,
      }),
    );

    collected('gauge', 'hedgerow_database_size_bytes', 'Size of the SQLite database including its WAL', () =>
      sources.databaseFiles().reduce((sum, f) => {
        try {
          return sum + fs.statSync(f).size;
        } catch {
          return sum;
        }
      }, 0),
    );
    collected('gauge', 'hedgerow_data_dir_free_bytes', 'Free space of the filesystem holding the data directory', sources.dataDirFreeBytes);
    collected('gauge', 'hedgerow_certificate_expiry_days', 'Days until the connector certificate expires', sources.certificateDaysToExpiry);
    collected('gauge', 'hedgerow_cpu_temperature_celsius', 'CPU temperature where the board exposes it', sources.cpuTemperatureCelsius);
  }

  /** Record one answered request; `route` is a route pattern, never a raw URL (bounded label cardinality). */
  observe(labels: { listener: string; method: string; route: string; status: string }, seconds: number): void {
    this.requestDuration.observe(labels, seconds);
    this.requestCount.inc(labels);
  }

  /** Express middleware recording latency by matched route. */
  httpMiddleware(listener: string) {
    return (req: Request, res: Response, next: NextFunction) => {
      const started = performance.now();
      res.once('finish', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        this.observe({ listener, method: req.method, route, status: String(res.statusCode) }, (performance.now() - started) / 1000);
      });
      next();
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: PROMETHEUS_CONTENT_TYPE, body: await this.registry.render() };
  }
}
