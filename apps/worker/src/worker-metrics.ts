import { DeadLetterReason, readOldestWaitingAgeMs } from '@closeloop/queue';
import {
  Counter,
  DEFAULT_METRICS_SOURCE_DEADLINE_MS,
  Gauge,
  Histogram,
  readWithinDeadline,
  renderMetrics,
  type Registry,
} from '@closeloop/runtime';
import type { Queue } from 'bullmq';
import type { DelayReason } from './failure-policy.js';
import type { TaskWorkerObserver } from './task-worker-observer.js';

/**
 * The worker's metrics (its `/metrics` on METRICS_PORT). Labels stay bounded: outcomes, reasons,
 * error codes, GHL operations and status classes; never a task, contact or location id (a label
 * value is a time series, and there are as many tasks as there are tickets).
 */

/** What the GHL client reports after every call (its `onCall` option). */
export interface GhlCallReport {
  method: string;
  /** A fixed name or route template for the call (e.g. the completed-task PUT), never a filled-in path. */
  operation: string;
  /** GHL's status; undefined when no answer came (timeout, connection refused or reset). */
  status: number | undefined;
  code?: string | undefined;
  durationMs: number;
}

export type GhlStatusClass = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'network';

/**
 * GHL call latency: a task PUT usually answers in 100–500 ms; the client's whole-request timeout is
 * 15 s by default (GHL_TIMEOUT_MS), so the top buckets show calls that ran into it.
 */
export const GHL_LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];

// Records, so that a new reason does not compile until its series is listed here.
const DELAY_REASONS: Record<DelayReason, true> = {
  RATE_BUDGET: true,
  GHL_RATE_LIMITED: true,
  GHL_DAILY_LIMIT: true,
  TASK_BUSY: true,
  SHUTDOWN: true,
  REAUTH_REQUIRED: true,
};
const COMPLETED_OUTCOMES = ['updated', 'stale'] as const;

export interface WorkerMetricsOptions {
  /** The process registry (createMetricsRegistry({ service: 'worker' })). */
  registry: Registry;
  /** `task-updates` and `task-updates-dead`: BullMQ's depth gauges for both. */
  queues: { taskUpdates: Queue; deadLetters: Queue };
  /** BullMQ's key prefix, a label on BullMQ's gauges. */
  prefix?: string;
  /** Bound on each Redis read of a scrape; default DEFAULT_METRICS_SOURCE_DEADLINE_MS. */
  readDeadlineMs?: number;
}

export interface WorkerMetrics {
  /** For `createTaskWorker({ observer })`. */
  readonly observer: TaskWorkerObserver;
  /** For `createGhlClient({ onCall })`. */
  readonly onGhlCall: (call: GhlCallReport) => void;
  /** The `/metrics` text: BullMQ's queue gauges (bounded) and the registry's families. */
  render(): Promise<string>;
}

export function classifyGhlStatus(status: number | undefined): GhlStatusClass {
  if (status === undefined) return 'network';
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return status >= 300 ? '3xx' : '2xx';
}

/** Error codes are UPPER_SNAKE (GhlError) or an error's name; anything else is folded, to stay bounded. */
function boundedCode(code: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(code) ? code : 'OTHER';
}

export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const registers = [options.registry];
  const deadlineMs = options.readDeadlineMs ?? DEFAULT_METRICS_SOURCE_DEADLINE_MS;
  const { taskUpdates, deadLetters } = options.queues;

  const completed = new Counter({
    name: 'closeloop_worker_jobs_completed_total',
    help: 'Jobs finished: updated (GHL answered 200) or stale (a newer event was already applied; GHL not called)',
    labelNames: ['outcome'],
    registers,
  });
  const delayed = new Counter({
    name: 'closeloop_worker_jobs_delayed_total',
    help: 'Jobs moved to delayed without spending an attempt, by reason (rate budget, GHL 429, daily limit, task busy, shutdown)',
    labelNames: ['reason'],
    registers,
  });
  const retried = new Counter({
    name: 'closeloop_worker_jobs_retried_total',
    help: 'Failed attempts BullMQ retries with backoff, by error code',
    labelNames: ['code'],
    registers,
  });
  const deadLettered = new Counter({
    name: 'closeloop_worker_jobs_dead_lettered_total',
    help: 'Dead letters written, by reason',
    labelNames: ['reason'],
    registers,
  });
  const ghlDuration = new Histogram({
    name: 'closeloop_worker_ghl_request_duration_seconds',
    help: 'GHL call latency, by operation and status class (network: no answer)',
    labelNames: ['operation', 'status_class'],
    buckets: GHL_LATENCY_BUCKETS,
    registers,
  });
  const ghlRateLimited = new Counter({
    name: 'closeloop_worker_ghl_rate_limited_total',
    help: 'GHL answers 429 Too Many Requests, by operation',
    labelNames: ['operation'],
    registers,
  });
  const queueMetricsUp = new Gauge({
    name: 'closeloop_worker_queue_metrics_up',
    help: '1 when the queue gauges could be read from Redis for this scrape',
    registers,
  });
  new Gauge({
    name: 'closeloop_worker_queue_oldest_waiting_age_seconds',
    help: 'Age of the job next in line in task-updates waiting (0 when nothing waits); absent when Redis did not answer',
    labelNames: ['queue'],
    registers,
    async collect() {
      try {
        const ageMs = await readWithinDeadline(() => readOldestWaitingAgeMs(taskUpdates), deadlineMs);
        this.set({ queue: taskUpdates.name }, (ageMs ?? 0) / 1000);
      } catch {
        // Unknown is not 0: a stale or zero age would hide a stuck queue during a Redis outage.
        this.reset();
      }
    },
  });

  // Series that exist from the start: a rate() or increase() over a series that appears late misses its first step.
  for (const outcome of COMPLETED_OUTCOMES) completed.inc({ outcome }, 0);
  for (const reason of Object.keys(DELAY_REASONS)) delayed.inc({ reason }, 0);
  for (const reason of DeadLetterReason.options) deadLettered.inc({ reason }, 0);

  const labels = { service: 'worker', ...(options.prefix !== undefined && { prefix: options.prefix }) };
  return {
    observer: {
      onJobCompleted: (outcome) => completed.inc({ outcome }),
      onJobDelayed: (reason) => delayed.inc({ reason }),
      onJobRetried: (code) => retried.inc({ code: boundedCode(code) }),
      onJobDeadLettered: (reason) => deadLettered.inc({ reason }),
    },
    onGhlCall: (call) => {
      const statusClass = classifyGhlStatus(call.status);
      ghlDuration.observe({ operation: call.operation, status_class: statusClass }, call.durationMs / 1000);
      if (statusClass === '429') ghlRateLimited.inc({ operation: call.operation });
    },
    render: () =>
      renderMetrics({
        registry: options.registry,
        sources: [taskUpdates, deadLetters].map((queue) => () => queue.exportPrometheusMetrics(labels)),
        sourceDeadlineMs: deadlineMs,
        sourcesUp: queueMetricsUp,
      }),
  };
}
