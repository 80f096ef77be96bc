import { describe, expect, it } from '@jest/globals';
import {
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  mergePrometheusTexts,
  parsePrometheusText,
  renderMetrics,
} from '../src/index.js';

const BULLMQ_TEXT = (queue: string, waiting: number): string =>
  '# HELP bullmq_job_count Number of jobs in the queue by state\n# TYPE bullmq_job_count gauge\n' +
  `bullmq_job_count{queue="${queue}", state="waiting"} ${waiting}\n` +
  `bullmq_job_count{queue="${queue}", state="active"} 0\n`;

describe('createMetricsRegistry', () => {
  it('When a registry is created, then Node default metrics and our own carry the service label', async () => {
    const registry = createMetricsRegistry({ service: 'receiver' });
    const counter = new Counter({
      name: 'closeloop_test_total',
      help: 'h',
      labelNames: ['k'],
      registers: [registry],
    });
    counter.inc({ k: 'a' }, 2);

    const samples = parsePrometheusText(await registry.metrics());

    expect(samples).toContainEqual({
      name: 'closeloop_test_total',
      labels: { k: 'a', service: 'receiver' },
      value: 2,
    });
    const cpu = samples.find((sample) => sample.name === 'process_cpu_user_seconds_total');
    expect(cpu?.labels).toEqual({ service: 'receiver' });
    expect(samples.some((sample) => sample.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('When two registries exist in one process, then neither sees the other’s families', async () => {
    const a = createMetricsRegistry({ service: 'a', defaultMetrics: false });
    const b = createMetricsRegistry({ service: 'b', defaultMetrics: false });
    new Counter({ name: 'closeloop_only_in_a_total', help: 'h', registers: [a] }).inc();

    expect(await a.metrics()).toContain('closeloop_only_in_a_total');
    expect(await b.metrics()).not.toContain('closeloop_only_in_a_total');
  });
});

describe('renderMetrics', () => {
  it('When every source answers, then their families are joined to the registry’s once each and up is 1', async () => {
    const registry = createMetricsRegistry({ service: 'worker', defaultMetrics: false });
    const up = new Gauge({ name: 'closeloop_test_queue_metrics_up', help: 'h', registers: [registry] });

    const text = await renderMetrics({
      registry,
      sources: [
        () => Promise.resolve(BULLMQ_TEXT('task-updates', 3)),
        () => Promise.resolve(BULLMQ_TEXT('task-updates-dead', 1)),
      ],
      sourcesUp: up,
    });

    const samples = parsePrometheusText(text);
    expect(samples).toContainEqual({
      name: 'bullmq_job_count',
      labels: { queue: 'task-updates', state: 'waiting' },
      value: 3,
    });
    expect(samples).toContainEqual({
      name: 'bullmq_job_count',
      labels: { queue: 'task-updates-dead', state: 'waiting' },
      value: 1,
    });
    expect(samples).toContainEqual({
      name: 'closeloop_test_queue_metrics_up',
      labels: { service: 'worker' },
      value: 1,
    });
    expect(text.match(/^# TYPE bullmq_job_count /gm)).toHaveLength(1);
  });

  it('When a source never answers or fails, then the scrape answers within the deadline without it and up is 0', async () => {
    const registry = createMetricsRegistry({ service: 'worker', defaultMetrics: false });
    const up = new Gauge({ name: 'closeloop_test_queue_metrics_up', help: 'h', registers: [registry] });
    const started = Date.now();

    const text = await renderMetrics({
      registry,
      sources: [
        () => new Promise<string>(() => undefined),
        () => Promise.reject(new Error('Connection is closed.')),
        () => Promise.resolve(BULLMQ_TEXT('task-updates-dead', 0)),
      ],
      sourceDeadlineMs: 200,
      sourcesUp: up,
    });

    expect(Date.now() - started).toBeLessThan(1_000);
    const samples = parsePrometheusText(text);
    expect(samples.filter((sample) => sample.name === 'bullmq_job_count').map((s) => s.labels.queue)).toEqual(
      ['task-updates-dead', 'task-updates-dead'],
    );
    expect(samples).toContainEqual({
      name: 'closeloop_test_queue_metrics_up',
      labels: { service: 'worker' },
      value: 0,
    });
  });
});

describe('mergePrometheusTexts', () => {
  it('When two expositions repeat a family, then its HELP/TYPE appear once with all samples together', () => {
    const a =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\n# HELP y Y\n# TYPE y gauge\ny{q="a"} 2';
    const b =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="b"} 3\n# HELP y Y\n# TYPE y gauge\ny{q="b"} 4';
    expect(mergePrometheusTexts([a, b])).toBe(
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\nx_total{q="b"} 3\n' +
        '# HELP y Y\n# TYPE y gauge\ny{q="a"} 2\ny{q="b"} 4\n',
    );
  });

  it('When a histogram is merged, then its _bucket, _sum and _count samples stay under its HELP/TYPE', async () => {
    const registry = createMetricsRegistry({ service: 's', defaultMetrics: false });
    new Histogram({
      name: 'closeloop_test_seconds',
      help: 'h',
      buckets: [0.1, 1],
      registers: [registry],
    }).observe(0.5);

    const merged = mergePrometheusTexts([BULLMQ_TEXT('q', 1), await registry.metrics()]);

    const lines = merged.trim().split('\n');
    const typeLine = lines.indexOf('# TYPE closeloop_test_seconds histogram');
    expect(typeLine).toBeGreaterThan(0);
    expect(lines.slice(typeLine + 1).every((line) => line.startsWith('closeloop_test_seconds_'))).toBe(true);
    expect(parsePrometheusText(merged)).toContainEqual({
      name: 'closeloop_test_seconds_bucket',
      labels: { le: '1', service: 's' },
      value: 1,
    });
  });
});

describe('parsePrometheusText', () => {
  it('When labels hold escaped quotes and newlines, then they are unescaped; +Inf is Infinity', () => {
    expect(parsePrometheusText('# c\nm{a="x\\"y",b="1\\n2",le="+Inf"} +Inf\nn 4.5 1700000000\n')).toEqual([
      { name: 'm', labels: { a: 'x"y', b: '1\n2', le: '+Inf' }, value: Infinity },
      { name: 'n', labels: {}, value: 4.5 },
    ]);
  });

  it('When a line is not a sample, then it throws naming the line', () => {
    expect(() => parsePrometheusText('m{a=unquoted} 1')).toThrow(/Bad labels|Not a Prometheus sample/);
    expect(() => parsePrometheusText('what is this')).toThrow(/Not a Prometheus sample/);
  });
});
