import { Registry, collectDefaultMetrics, type Gauge } from 'prom-client';

/**
 * Prometheus metrics, the one way for every closeloop process: one prom-client Registry per process
 * (prom-client README, "Registry"), Node's default metrics in it, and our own families named
 * `closeloop_<service>_…`. Texts that come ready-made (BullMQ's `queue.exportPrometheusMetrics()`)
 * are joined to the registry's text, each read bounded by a deadline, so a scrape answers while
 * Redis is away.
 */

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The Prometheus text format, version 0.0.4 (what prom-client's Registry renders). */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** How long one ready-made text (one BullMQ queue) may take before the scrape goes on without it. */
export const DEFAULT_METRICS_SOURCE_DEADLINE_MS = 500;

export interface CreateMetricsRegistryOptions {
  /** The process's name (`receiver`, `worker`), on every series as `service`, like on every log line. */
  service: string;
  /** Default true; tests that only look at their own families pass false. */
  defaultMetrics?: boolean;
}

/**
 * A registry with Node's default metrics (`process_*`, `nodejs_*`, under their standard names, so
 * the usual Node.js dashboards work) and a `service` label on every series.
 */
export function createMetricsRegistry(options: CreateMetricsRegistryOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** A ready-made exposition, e.g. `() => queue.exportPrometheusMetrics(labels)`. */
export type MetricsTextSource = () => Promise<string>;

export interface RenderMetricsOptions {
  registry: Registry;
  /** Ready-made texts joined to the registry's; one that fails or misses its deadline is left out. */
  sources?: readonly MetricsTextSource[];
  /** Per source; default DEFAULT_METRICS_SOURCE_DEADLINE_MS. */
  sourceDeadlineMs?: number;
  /** Set to 1 when every source answered in time, 0 otherwise, before the registry is rendered. */
  sourcesUp?: Gauge;
}

/**
 * The text a `/metrics` scrape answers: the sources' texts (read in parallel, each bounded) and the
 * registry's, regrouped so every family appears once. Never rejects because of a source.
 */
export async function renderMetrics(options: RenderMetricsOptions): Promise<string> {
  const deadlineMs = options.sourceDeadlineMs ?? DEFAULT_METRICS_SOURCE_DEADLINE_MS;
  const results = await Promise.allSettled(
    (options.sources ?? []).map((source) => readWithinDeadline(source, deadlineMs)),
  );
  const texts = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  options.sourcesUp?.set(texts.length === results.length ? 1 : 0);
  return mergePrometheusTexts([...texts, await options.registry.metrics()]);
}

/**
 * `read()`'s result, or a rejection after `ms`; for what a scrape reads from Redis (queue texts,
 * gauges collected at scrape time). A late rejection is absorbed.
 */
export async function readWithinDeadline<T>(read: () => Promise<T>, ms: number): Promise<T> {
  const reading = Promise.resolve().then(read);
  // A late rejection must not become an unhandled rejection: the run lifecycle treats those as fatal.
  reading.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race<T>([
      reading,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL_PAIR = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;

/**
 * The samples of a Prometheus text exposition (comments skipped). For scripts and tests that
 * read a `/metrics` answer; throws on a line that is not a sample, so a malformed exposition fails loudly.
 */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match?.[1] || match[3] === undefined)
      throw new Error(`Not a Prometheus sample: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    LABEL_PAIR.lastIndex = 0;
    let pair: RegExpExecArray | null;
    while (LABEL_PAIR.lastIndex < body.length && (pair = LABEL_PAIR.exec(body)) !== null) {
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, char: string) =>
        char === 'n' ? '\n' : char,
      );
    }
    if (LABEL_PAIR.lastIndex < body.trim().length) throw new Error(`Bad labels: ${line.slice(0, 200)}`);
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    if (Number.isNaN(value) && match[3].toLowerCase() !== 'nan')
      throw new Error(`Not a Prometheus sample: ${line.slice(0, 200)}`);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/**
 * Joins Prometheus text expositions into one. Each of BullMQ's `exportPrometheusMetrics()` texts
 * repeats the HELP/TYPE lines of `bullmq_job_count` & co.; the text format allows one HELP/TYPE per
 * family with all its samples together, so families are regrouped (first HELP/TYPE wins). A
 * histogram's `_bucket`/`_sum`/`_count` samples stay with the family their TYPE line opened.
 */
export function mergePrometheusTexts(texts: readonly string[]): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  const familyOf = (name: string) => {
    let family = families.get(name);
    if (!family) {
      family = { meta: [], samples: [] };
      families.set(name, family);
    }
    return family;
  };
  for (const text of texts) {
    let current: string | undefined;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta?.[1] && meta[2]) {
        current = meta[2];
        const family = familyOf(current);
        if (!family.meta.some((existing) => existing.startsWith(`# ${meta[1]} `))) family.meta.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '';
      const owner = current !== undefined && isSampleOf(name, current) ? current : name;
      familyOf(owner).samples.push(line);
    }
  }
  return [...families.values()].flatMap((family) => [...family.meta, ...family.samples]).join('\n') + '\n';
}

function isSampleOf(sampleName: string, familyName: string): boolean {
  return (
    sampleName === familyName ||
    ['_bucket', '_sum', '_count', '_total', '_created'].some((suffix) => sampleName === familyName + suffix)
  );
}
