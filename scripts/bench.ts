/**
 * `pnpm bench [name] [args…]`: every benchmark, or the one named, one after the other (they would
 * compete for the same cores if run together). Each reports its figures beside a baseline measured
 * in the same run on the same machine; this runner collects each one's final JSON line and prints
 * every figure beside its baseline, as a ratio (README "Benchmarks").
 *
 *   pnpm bench                          every benchmark with its defaults (about 8 minutes on 2 cores)
 *   pnpm bench [seconds] [connections]  the same, with these for the sandbox and receiver load steps
 *   pnpm bench --smoke                  every benchmark with small counts (about 4 minutes): proves they work
 *   pnpm bench <name> [args…]           one of: sandbox, receiver, worker, e2e, budget, fairness, memory;
 *                                       the args go to it (each file's header lists its flags)
 *   --runs N                            runs of each sandbox/receiver load step (default 3; the
 *                                       other benchmarks take their own --runs where they have one)
 *
 * Medians: the sandbox and receiver benchmarks measure one load step per side per process, so the
 * runner starts them `--runs` times and reports each figure's median and range; the worker and e2e
 * benchmarks run their steps several times themselves and report the same.
 *
 * Written: bench/results/latest.{json,md,svg} and the README section between `<!-- bench:start -->`
 * and `<!-- bench:end -->` after a full run; bench/results/smoke.* after `--smoke`, and
 * bench/results/<name>.* after a single benchmark (neither touches README; both are git-ignored).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'bench', 'results');

type Json = Record<string, unknown>;
/** A figure with its median and range over several runs. */
interface Spread {
  median: number;
  min: number;
  max: number;
}
interface Row {
  bench: string;
  figure: string;
  unit: string;
  value: Spread;
  baselineLabel: string;
  baseline: Spread | undefined;
  /** value ÷ baseline (medians); undefined without a baseline. */
  ratio: number | undefined;
  better: 'higher' | 'lower';
  /** The ratio the project asks for, where it states one (docs/rate-budget.md, issue 8's 2 s). */
  target?: number;
  targetLabel?: string;
}
interface Bench {
  id: string;
  name: string;
  file: string;
  /** Started `--runs` times by this runner (one measurement per side per process). */
  repeat: boolean;
  args(options: { smoke: boolean; load: string[] }): string[];
  rows(lines: Json[]): Row[];
}

const spreadOf = (values: number[]): Spread => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length === 0
      ? Number.NaN
      : sorted.length % 2 === 1
        ? (sorted[middle] ?? Number.NaN)
        : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
};
const one = (value: number): Spread => ({ median: value, min: value, max: value });
const asSpread = (value: unknown): Spread => {
  if (typeof value === 'number') return one(value);
  const s = value as Partial<Spread> | undefined;
  return { median: Number(s?.median), min: Number(s?.min), max: Number(s?.max) };
};
const num = (line: Json, path: string): number =>
  Number(path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], line));
const across = (lines: Json[], path: string): Spread => spreadOf(lines.map((line) => num(line, path)));

function row(
  bench: string,
  figure: string,
  unit: string,
  value: Spread,
  baselineLabel: string,
  baseline: Spread | undefined,
  better: 'higher' | 'lower',
  target?: { ratio: number; label: string },
): Row {
  const ratio = baseline && baseline.median !== 0 ? value.median / baseline.median : undefined;
  return {
    bench,
    figure,
    unit,
    value,
    baselineLabel,
    baseline,
    ratio: ratio === undefined || !Number.isFinite(ratio) ? undefined : Math.round(ratio * 1000) / 1000,
    better,
    ...(target && { target: target.ratio, targetLabel: target.label }),
  };
}

/** Load steps: `[seconds] [connections]`, or short ones for a smoke run. */
const loadArgs = ({ smoke, load }: { smoke: boolean; load: string[] }): string[] =>
  load.length > 0 ? load : smoke ? ['2', '50'] : [];

const BENCHES: Bench[] = [
  {
    id: 'sandbox',
    name: 'GHL sandbox: PUT …/completed vs bare Express',
    file: 'packages/ghl-sandbox/bench/sandbox-bench.ts',
    repeat: true,
    args: loadArgs,
    rows: (lines) => [
      row(
        'sandbox',
        'PUT …/completed answered 200 per second',
        '/s',
        across(lines, 'sandbox.okPerSecond'),
        'bare Express 200',
        across(lines, 'baseline.okPerSecond'),
        'higher',
      ),
      row(
        'sandbox',
        'p99 latency',
        'ms',
        across(lines, 'sandbox.p99Ms'),
        'bare Express 200',
        across(lines, 'baseline.p99Ms'),
        'lower',
      ),
    ],
  },
  {
    id: 'receiver',
    name: 'receiver: signed webhook → Redis vs bare Express 202',
    file: 'apps/receiver/bench/receiver-bench.ts',
    repeat: true,
    args: loadArgs,
    rows: (lines) => {
      const connections = num(lines[0] ?? {}, 'connections');
      return [
        row(
          'receiver',
          `events accepted (durably enqueued) per second, ${connections} connections`,
          '/s',
          across(lines, 'receiver.acceptedPerSecond'),
          'bare Express 202, same body',
          across(lines, 'baseline.acceptedPerSecond'),
          'higher',
        ),
        row(
          'receiver',
          'p99 latency',
          'ms',
          across(lines, 'receiver.p99Ms'),
          'bare Express 202, same body',
          across(lines, 'baseline.p99Ms'),
          'lower',
        ),
      ];
    },
  },
  {
    id: 'worker',
    name: 'worker: jobs/s with GHL answering after 50 ms vs a minimal BullMQ + got worker and the ideal',
    file: 'apps/worker/bench/worker-bench.ts',
    repeat: false,
    args: ({ smoke }) => (smoke ? ['--seconds', '1', '--warmup-s', '0.5', '--runs', '1'] : []),
    rows: (lines) => {
      const line = lines.at(-1) ?? {};
      const steps = (line.steps as Json[] | undefined) ?? [];
      return steps.flatMap((step) => {
        const c = num(step, 'concurrency');
        const value = asSpread(step.closeloop);
        return [
          row(
            'worker',
            `jobs/s at concurrency ${c}, GHL ${num(line, 'latencyMs')} ms`,
            '/s',
            value,
            'minimal BullMQ worker + got',
            asSpread(step.baseline),
            'higher',
          ),
          row(
            'worker',
            `jobs/s at concurrency ${c}, against the ideal`,
            '/s',
            value,
            'ideal: concurrency ÷ latency',
            one(num(step, 'idealPerSecond')),
            'higher',
          ),
        ];
      });
    },
  },
  {
    id: 'e2e',
    name: 'end to end: webhook → GHL call, unloaded, receiver and worker processes',
    file: 'e2e/bench/e2e-bench.ts',
    repeat: false,
    args: ({ smoke }) => (smoke ? ['--events', '20', '--runs', '1', '--warmup', '2'] : []),
    rows: (lines) => {
      const line = lines.at(-1) ?? {};
      const label = 'minimal: node:http → BullMQ → got';
      const of = (side: string, key: string): Spread => asSpread((line[side] as Json | undefined)?.[key]);
      return [
        row(
          'e2e',
          'POST → GHL call, p50',
          'ms',
          of('closeloop', 'ghlP50Ms'),
          label,
          of('baseline', 'ghlP50Ms'),
          'lower',
        ),
        row(
          'e2e',
          'POST → GHL call, p99',
          'ms',
          of('closeloop', 'ghlP99Ms'),
          label,
          of('baseline', 'ghlP99Ms'),
          'lower',
        ),
        row(
          'e2e',
          'POST → job completed, p50',
          'ms',
          of('closeloop', 'completedP50Ms'),
          label,
          of('baseline', 'completedP50Ms'),
          'lower',
        ),
        row(
          'e2e',
          'POST → job completed, p99',
          'ms',
          of('closeloop', 'completedP99Ms'),
          label,
          of('baseline', 'completedP99Ms'),
          'lower',
        ),
      ];
    },
  },
  {
    id: 'budget',
    name: 'worker budget: many locations at full speed vs a perfect sliding-window client',
    file: 'apps/worker/bench/budget-bench.ts',
    repeat: false,
    args: ({ smoke }) =>
      smoke ? ['--locations', '5', '--jobs', '60', '--limit', '20', '--interval-ms', '2000'] : [],
    rows: (lines) => {
      const l = lines.at(-1) ?? {};
      const target = { ratio: 0.97, label: '≥ 0.97' };
      return [
        row(
          'budget',
          'completions/s after the first window',
          '/s',
          one(num(l, 'completionsPerSecond')),
          'perfect client',
          one(num(l, 'idealCompletionsPerSecond')),
          'higher',
          target,
        ),
        row(
          'budget',
          "  … against the perfect client at this machine's speed",
          '/s',
          one(num(l, 'completionsPerSecond')),
          'perfect client, first window as fast as this run',
          one(num(l, 'speedIdealCompletionsPerSecond')),
          'higher',
          target,
        ),
        row(
          'budget',
          'wait p99',
          'ms',
          one(num(l, 'waitP99Ms')),
          'perfect client',
          one(num(l, 'idealWaitP99Ms')),
          'lower',
        ),
        row(
          'budget',
          'activations per GHL call',
          '',
          one(num(l, 'activationsPerCall')),
          'perfect client',
          one(num(l, 'idealActivationsPerCall')),
          'lower',
          { ratio: 2 / num(l, 'idealActivationsPerCall'), label: '≤ 2' },
        ),
        row('budget', '429s from GHL', '', one(num(l, 'ghl429')), 'perfect client: 0', undefined, 'lower'),
      ];
    },
  },
  {
    id: 'fairness',
    name: "worker fairness: one location's job while another has a backlog or answers slowly",
    file: 'apps/worker/bench/fairness-bench.ts',
    repeat: false,
    args: ({ smoke }) =>
      smoke ? ['--backlog', '500', '--slow-ms', '2000', '--slow-jobs', '100', '--probes', '2'] : [],
    rows: (lines) => {
      const l = lines.at(-1) ?? {};
      const arr = (key: string): number[] => ((l[key] as number[] | undefined) ?? []).map(Number);
      const max = (key: string): Spread => one(Math.max(...arr(key)));
      const unloaded = max('unloadedMs');
      const target = { ratio: num(l, 'targetMs') / unloaded.median, label: `≤ ${num(l, 'targetMs')} ms` };
      return [
        row(
          'fairness',
          `B's job → GHL, max, while A has a backlog of ${num(l, 'backlog')}`,
          'ms',
          max('backlogMs'),
          'the same probes, unloaded',
          unloaded,
          'lower',
          target,
        ),
        row(
          'fairness',
          `B's job → GHL, max, while C answers in ${num(l, 'slowMs')} ms`,
          'ms',
          max('slowProbeMs'),
          'the same probes, unloaded',
          unloaded,
          'lower',
          target,
        ),
      ];
    },
  },
  {
    id: 'memory',
    name: 'memory: worker RSS over many jobs, Redis bytes per kept job and per dedupe record',
    file: 'apps/worker/bench/memory-bench.ts',
    repeat: false,
    args: ({ smoke }) => (smoke ? ['--jobs', '3000', '--warmup', '300', '--samples', '200'] : []),
    rows: (lines) => {
      const l = lines.at(-1) ?? {};
      const MiB = (key: string): Spread => one(Math.round((num(l, key) / 2 ** 20) * 10) / 10);
      return [
        row(
          'memory',
          `worker RSS after ${num(l, 'jobs')} jobs (peak ${MiB('workerRssPeakBytes').median} MiB)`,
          'MiB',
          MiB('workerRssAfterBytes'),
          `after ${num(l, 'warmupJobs')} warm-up jobs`,
          MiB('workerRssAfterWarmupBytes'),
          'lower',
        ),
        row(
          'memory',
          `Redis bytes per kept completed job (${num(l, 'keptCompletedJobs')} kept)`,
          'B',
          one(num(l, 'redisBytesPerCompletedJob')),
          "the job's data",
          one(num(l, 'jobDataBytes')),
          'lower',
        ),
        row(
          'memory',
          'Redis bytes per dedupe record',
          'B',
          one(num(l, 'redisBytesPerDedupeRecord')),
          'its key + value',
          one(num(l, 'dedupeRecordRawBytes')),
          'lower',
        ),
        row(
          'memory',
          'Redis bytes per order marker (one per task)',
          'B',
          one(num(l, 'redisBytesPerOrderMarker')),
          '',
          undefined,
          'lower',
        ),
        row(
          'memory',
          'Redis used_memory growth per job, all keys',
          'B',
          one(num(l, 'redisUsedMemoryPerJobBytes')),
          '',
          undefined,
          'lower',
        ),
      ];
    },
  },
];

// Arguments: a benchmark's name and its own args, or the runner's options for a full run.
const argv = process.argv.slice(2);
let runs = 3;
const runsAt = argv.indexOf('--runs');
if (runsAt >= 0) {
  runs = Number(argv[runsAt + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  argv.splice(runsAt, 2);
}
const smoke = argv.includes('--smoke');
if (smoke) argv.splice(argv.indexOf('--smoke'), 1);
const named = BENCHES.find((bench) => bench.id === argv[0]);
if (argv[0] !== undefined && !named && !/^\d+$/.test(argv[0])) {
  process.stderr.write(`unknown benchmark ${argv[0]}; one of: ${BENCHES.map((b) => b.id).join(', ')}\n`);
  process.exit(2);
}
const selected = named
  ? [{ bench: named, args: argv.slice(1) }]
  : BENCHES.map((bench) => ({ bench, args: bench.args({ smoke, load: bench.repeat ? argv : [] }) }));
const output = named ? named.id : smoke ? 'smoke' : 'latest';

/** Runs one benchmark process, its output shown as it comes; resolves with its JSON lines. */
function runOnce(file: string, args: string[]): Promise<{ code: number | null; lines: Json[] }> {
  return new Promise((resolveRun) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [file, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      text += chunk.toString();
    });
    child.once('exit', (code) => {
      const lines: Json[] = [];
      for (const line of text.split('\n')) {
        if (!line.startsWith('{"bench"')) continue;
        try {
          lines.push(JSON.parse(line) as Json);
        } catch {
          // not a figures line
        }
      }
      resolveRun({ code, lines });
    });
  });
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const started = new Date();
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  platform: `${platform()} ${release()}`,
  node: process.version,
  commit: git('rev-parse', 'HEAD'),
  dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
  loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
};

let failed = false;
const results: Array<{ id: string; name: string; args: string[]; runs: number; lines: Json[]; rows: Row[] }> =
  [];
for (const { bench, args } of selected) {
  const times = bench.repeat ? runs : 1;
  const lines: Json[] = [];
  for (let run = 0; run < times; run += 1) {
    process.stdout.write(`\n== ${bench.name}${times > 1 ? ` (run ${run + 1} of ${times})` : ''}\n`);
    const result = await runOnce(bench.file, args);
    if (result.code !== 0 || result.lines.length === 0) {
      failed = true;
      process.stderr.write(`${bench.id}: exited with ${result.code}, ${result.lines.length} figure lines\n`);
    }
    lines.push(...result.lines);
  }
  const rows = lines.length > 0 ? bench.rows(lines) : [];
  results.push({ id: bench.id, name: bench.name, args, runs: times, lines, rows });
}

// Rendering.
const fmt = (n: number): string =>
  !Number.isFinite(n) ? '–' : Math.abs(n) >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
const spreadText = (s: Spread | undefined, unit: string): string => {
  if (!s) return '';
  const u = unit === '' || unit === '/s' ? (unit === '/s' ? '/s' : '') : ` ${unit}`;
  return s.min === s.max ? `${fmt(s.median)}${u}` : `${fmt(s.median)}${u} (${fmt(s.min)}–${fmt(s.max)})`;
};
const rows = results.flatMap((r) => r.rows);
const meets = (r: Row): boolean | undefined =>
  r.target === undefined || r.ratio === undefined
    ? undefined
    : r.better === 'higher'
      ? r.ratio >= r.target
      : r.ratio <= r.target;

function markdown(): string {
  const header = '| bench | figure | measured (median, range) | baseline, same run | ratio | target |';
  const lines = [header, '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const baseline = r.baseline ? `${spreadText(r.baseline, r.unit)}: ${r.baselineLabel}` : r.baselineLabel;
    const ratio = r.ratio === undefined ? '' : `${r.ratio}${r.better === 'higher' ? ' ↑' : ' ↓'}`;
    const target = r.targetLabel ? `${r.targetLabel}${meets(r) === false ? ' (missed)' : ''}` : '';
    lines.push(
      `| ${r.bench} | ${r.figure.trim()} | ${spreadText(r.value, r.unit)} | ${baseline} | ${ratio} | ${target} |`,
    );
  }
  return lines.join('\n');
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Each figure's ratio to its baseline, on a log scale around 1, with the target where there is one. */
function svg(title: string): string {
  const charted = rows.filter((r) => r.ratio !== undefined && r.ratio > 0);
  const width = 960;
  const left = 470;
  const right = 60;
  const rowHeight = 22;
  const top = 56;
  const height = top + charted.length * rowHeight + 40;
  const values = charted.flatMap((r) => [r.ratio ?? 1, r.target ?? 1, 1]);
  const lo = Math.max(0.01, Math.min(...values) / 1.3);
  const hi = Math.min(1000, Math.max(...values) * 1.3);
  const x = (v: number): number =>
    left +
    ((Math.log10(Math.min(hi, Math.max(lo, v))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) *
      (width - left - right);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="12" y="38" fill="#555">Each figure ÷ its baseline of the same run (log scale; ↑ higher is better, ↓ lower is better). Red tick: target.</text>`,
  ];
  for (const tick of [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
    if (tick < lo || tick > hi) continue;
    parts.push(
      `<line x1="${x(tick)}" y1="${top - 6}" x2="${x(tick)}" y2="${height - 30}" stroke="${tick === 1 ? '#000' : '#ddd'}"/>`,
      `<text x="${x(tick)}" y="${height - 16}" text-anchor="middle" fill="#555">${tick}</text>`,
    );
  }
  charted.forEach((r, i) => {
    const y = top + i * rowHeight;
    const ratio = r.ratio ?? 1;
    const ok = meets(r);
    const colour = ok === true ? '#2e8b57' : ok === false ? '#c0392b' : '#4a78b5';
    const [from, to] = ratio >= 1 ? [x(1), x(ratio)] : [x(ratio), x(1)];
    parts.push(
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeXml(`${r.bench}: ${r.figure.trim()}`.slice(0, 72))} ${r.better === 'higher' ? '↑' : '↓'}</text>`,
      `<rect x="${from}" y="${y + 4}" width="${Math.max(1, to - from)}" height="${rowHeight - 8}" fill="${colour}"/>`,
      `<text x="${ratio >= 1 ? to + 4 : from - 4}" y="${y + 15}" text-anchor="${ratio >= 1 ? 'start' : 'end'}" fill="#333">${ratio}</text>`,
    );
    if (r.target !== undefined && Number.isFinite(r.target)) {
      parts.push(
        `<line x1="${x(r.target)}" y1="${y + 1}" x2="${x(r.target)}" y2="${y + rowHeight - 1}" stroke="#c0392b" stroke-width="2"/>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const finished = new Date();
const summary = {
  startedAt: started.toISOString(),
  minutes: Math.round(((finished.getTime() - started.getTime()) / 60_000) * 10) / 10,
  kind: named ? `single: ${named.id}` : smoke ? 'smoke (small counts; not figures)' : 'full',
  machine,
  loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
  loadRuns: runs,
  benches: results,
};
const describe =
  `${summary.kind} run of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ` +
  `${machine.commit.slice(0, 10)}${machine.dirty ? ' (uncommitted changes)' : ''}, ${machine.cpus} × ` +
  `${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, load average at start ` +
  `${machine.loadAverageAtStart.join(' / ')}; ${summary.minutes} min`;
const table = markdown();
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, `${output}.json`), `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(join(RESULTS, `${output}.md`), `${describe}.\n\n${table}\n`);
writeFileSync(join(RESULTS, `${output}.svg`), svg(`closeloop benchmarks, ${summary.kind}`));
// Prettier's layout, so that `pnpm format:check` stays clean whatever the figures.
const prettier = (...files: string[]): void => {
  execFileSync(join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', '--log-level', 'warn', ...files], {
    cwd: ROOT,
  });
};
prettier(join(RESULTS, `${output}.json`), join(RESULTS, `${output}.md`));
process.stdout.write(`\n== every figure beside its baseline (${describe})\n\n${table}\n\n`);
process.stdout.write(`written: bench/results/${output}.json, .md, .svg\n`);

if (!named && !smoke) {
  const readmePath = join(ROOT, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) {
    process.stdout.write(`README.md has no ${start} … ${end} section: not updated\n`);
  } else {
    const section =
      `${start}\n\n_Generated by \`pnpm bench\`: ${describe}. Chart: ` +
      `[bench/results/latest.svg](bench/results/latest.svg); all figures: bench/results/latest.json._\n\n` +
      `${table}\n\n${end}`;
    writeFileSync(readmePath, readme.slice(0, from) + section + readme.slice(to + end.length));
    prettier(readmePath);
    process.stdout.write('README.md "Benchmarks" table updated\n');
  }
}
process.exitCode = failed ? 1 : 0;
