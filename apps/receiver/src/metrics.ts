import {
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  renderMetrics,
  type Registry,
} from '@closeloop/runtime';
import type { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import type { ErrorCode } from './errors.js';

/**
 * Request durations: an accepted event takes a few milliseconds (one Redis round trip or three);
 * a 503 takes up to the enqueue deadline (800 ms, app.ts); past 2.5 s something is badly wrong.
 */
export const REQUEST_DURATION_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface ReceiverMetricsOptions {
  /** The sources whose series exist from the start (a rate() over a late series misses its first step). */
  sources: readonly string[];
  /** Default: a fresh process registry (`service="receiver"`, Node's default metrics). */
  registry?: Registry;
  /** `task-updates` and `task-updates-dead`, for BullMQ's own queue gauges. */
  queues?: readonly Queue[];
  /** BullMQ's key prefix, a label on BullMQ's gauges. */
  prefix?: string;
}

/**
 * The receiver's metrics, in the process's prom-client registry. Labels are bounded: the source
 * (configured names), the error code (a closed union), the route (the route pattern, never the
 * URL) and the status class.
 */
export class ReceiverMetrics {
  readonly registry: Registry;
  private readonly accepted: Counter<'source'>;
  private readonly duplicates: Counter<'source'>;
  private readonly rejected: Counter<'code'>;
  private readonly ignored: Counter<'source'>;
  private readonly requestDuration: Histogram<'route' | 'status_class'>;
  private readonly queueMetricsUp: Gauge;
  private readonly queues: readonly Queue[];
  private readonly queueLabels: Record<string, string>;

  constructor(options: ReceiverMetricsOptions) {
    const registry = options.registry ?? createMetricsRegistry({ service: 'receiver' });
    const registers = [registry];
    this.registry = registry;
    this.queues = options.queues ?? [];
    this.queueLabels = {
      service: 'receiver',
      ...(options.prefix !== undefined && { prefix: options.prefix }),
    };
    this.accepted = new Counter({
      name: 'closeloop_receiver_accepted_total',
      help: 'Task updates accepted and stored as new jobs',
      labelNames: ['source'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'closeloop_receiver_duplicates_total',
      help: 'Task updates recognised as redeliveries (202, nothing changed)',
      labelNames: ['source'],
      registers,
    });
    this.ignored = new Counter({
      name: 'closeloop_receiver_ignored_total',
      help: 'Genuine deliveries that neither close nor reopen a ticket (202 ignored, nothing enqueued)',
      labelNames: ['source'],
      registers,
    });
    this.rejected = new Counter({
      name: 'closeloop_receiver_rejected_total',
      help: 'Requests answered with an error, by error code (Bull Board 401s included)',
      labelNames: ['code'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'closeloop_receiver_request_duration_seconds',
      help: 'Time to answer a request, by route pattern and status class',
      labelNames: ['route', 'status_class'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers,
    });
    this.queueMetricsUp = new Gauge({
      name: 'closeloop_receiver_queue_metrics_up',
      help: '1 when the BullMQ queue gauges could be read from Redis for this scrape',
      registers,
    });
    for (const source of options.sources) {
      this.accepted.inc({ source }, 0);
      this.duplicates.inc({ source }, 0);
      this.ignored.inc({ source }, 0);
    }
  }

  countAccepted(source: string, duplicate: boolean): void {
    (duplicate ? this.duplicates : this.accepted).inc({ source });
  }

  countIgnored(source: string): void {
    this.ignored.inc({ source });
  }

  countRejected(code: ErrorCode): void {
    this.rejected.inc({ code });
  }

  observeRequest(route: string, status: number, seconds: number): void {
    this.requestDuration.observe({ route, status_class: `${Math.floor(status / 100)}xx` }, seconds);
  }

  /**
   * The `/metrics` text: BullMQ's gauges for every queue, each read bounded (they answer while
   * Redis is away: the receiver's counters are most useful then), and the registry's families.
   */
  render(): Promise<string> {
    return renderMetrics({
      registry: this.registry,
      sources: this.queues.map((queue) => () => queue.exportPrometheusMetrics(this.queueLabels)),
      sourcesUp: this.queueMetricsUp,
    });
  }
}

/**
 * Express middleware: one histogram observation per answered request. The route label is `route`
 * when given (the admin listener passes Bull Board's mount path for every board request), else
 * the matched route's pattern (`/webhooks/:source`), or `unmatched` for what no route took: never
 * the URL itself, whose values are unbounded.
 */
export function measureRequests(metrics: ReceiverMetrics, route?: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      metrics.observeRequest(
        route ?? routePatternOf(req),
        res.statusCode,
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  };
}

function routePatternOf(req: Request): string {
  const route: unknown = req.route;
  const pattern =
    typeof route === 'object' && route !== null ? (route as { path?: unknown }).path : undefined;
  return typeof pattern === 'string' ? pattern : 'unmatched';
}
