import type { ErrorCode } from './errors.js';

/**
 * The receiver's own counters, in Prometheus text format. Hand-rolled: three counters do not
 * justify a metrics library, and the queue gauges come from BullMQ as text anyway.
 */
export class ReceiverCounters {
  private readonly acceptedBySource = new Map<string, number>();
  private readonly duplicatesBySource = new Map<string, number>();
  private readonly rejectedByCode = new Map<ErrorCode, number>();

  constructor(sources: readonly string[]) {
    // Series that exist from the start: a rate() over a series that appears late misses its first step.
    for (const source of sources) {
      this.acceptedBySource.set(source, 0);
      this.duplicatesBySource.set(source, 0);
    }
  }

  countAccepted(source: string, duplicate: boolean): void {
    const counts = duplicate ? this.duplicatesBySource : this.acceptedBySource;
    counts.set(source, (counts.get(source) ?? 0) + 1);
  }

  countRejected(code: ErrorCode): void {
    this.rejectedByCode.set(code, (this.rejectedByCode.get(code) ?? 0) + 1);
  }

  toPrometheus(): string {
    const family = (name: string, help: string, label: string, values: Map<string, number>): string[] => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} counter`,
      ...[...values].map(([value, count]) => `${name}{${label}="${escapeLabel(value)}"} ${count}`),
    ];
    return [
      ...family(
        'closeloop_receiver_accepted_total',
        'Task updates accepted and stored as new jobs',
        'source',
        this.acceptedBySource,
      ),
      ...family(
        'closeloop_receiver_duplicates_total',
        'Task updates recognised as redeliveries (202, nothing changed)',
        'source',
        this.duplicatesBySource,
      ),
      ...family(
        'closeloop_receiver_rejected_total',
        'Requests answered with an error, by error code',
        'code',
        this.rejectedByCode,
      ),
    ].join('\n');
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Joins Prometheus text expositions into one. Each of BullMQ's `exportPrometheusMetrics()` texts
 * repeats the HELP/TYPE lines of `bullmq_job_count` & co.; the text format allows one HELP/TYPE per
 * family with all its samples together, so families are regrouped (first HELP/TYPE wins).
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
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? current ?? '';
      familyOf(name).samples.push(line);
    }
  }
  return [...families.values()].flatMap((family) => [...family.meta, ...family.samples]).join('\n') + '\n';
}
