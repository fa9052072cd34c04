import fs from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  databaseFiles: () => string[];
  dataDirFreeBytes: () => number | null;
  certificateDaysToExpiry: () => number | null;
  cpuTemperatureCelsius: () => number | null;
}

/**
 * Prometheus metrics. Process memory/CPU and event-loop lag come from prom-client's default
 * collectors; the connector's own gauges are computed at scrape time from cached values.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<'listener' | 'method' | 'route' | 'status'>;
  private readonly requestCount: Counter<'listener' | 'method' | 'route' | 'status'>;

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'hedgerow_', eventLoopMonitoringPrecision: 20 });
    this.requestDuration = new Histogram({
      name: 'hedgerow_http_request_duration_seconds',
      help: 'HTTP request latency by listener, route and status',
      labelNames: ['listener', 'method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    this.requestCount = new Counter({
      name: 'hedgerow_http_requests_total',
      help: 'HTTP requests by listener, route and status',
      labelNames: ['listener', 'method', 'route', 'status'],
      registers: [this.registry],
    });
    const gauge = (name: string, help: string, read: () => number | null) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const v = read();
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    gauge('hedgerow_database_size_bytes', 'Size of the SQLite database including its WAL', () =>
      sources.databaseFiles().reduce((sum, f) => {
        try {
          return sum + fs.statSync(f).size;
        } catch {
          return sum;
        }
      }, 0),
    );
    gauge('hedgerow_data_dir_free_bytes', 'Free space of the filesystem holding the data directory', sources.dataDirFreeBytes);
    gauge('hedgerow_certificate_expiry_days', 'Days until the connector certificate expires', sources.certificateDaysToExpiry);
    gauge('hedgerow_cpu_temperature_celsius', 'CPU temperature where the board exposes it', sources.cpuTemperatureCelsius);
  }

  /** Express middleware recording latency by matched route (not raw URL: bounded label cardinality). */
  httpMiddleware(listener: string) {
    return (req: Request, res: Response, next: NextFunction) => {
      const end = this.requestDuration.startTimer();
      res.once('finish', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        const labels = { listener, method: req.method, route, status: String(res.statusCode) };
        end(labels);
        this.requestCount.inc(labels);
      });
      next();
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
