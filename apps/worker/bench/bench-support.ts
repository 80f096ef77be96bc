/**
 * What the worker's benchmarks share (budget-bench.ts, fairness-bench.ts): worker processes as
 * `pnpm start:worker` runs them, and the arithmetic of their figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SandboxControl, createSandboxApp, type RateWindow, type SandboxState } from '@closeloop/ghl-sandbox';
import { createTaskUpdateProducer, type TaskUpdateProducer } from '@closeloop/queue';
import { startRedisServer, type LocalRedis } from '@closeloop/test-support';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A worker process, as `pnpm start:worker` runs it, with only the given environment. */
export interface WorkerProcess {
  child: ChildProcess;
  started: Promise<void>;
  problems: () => string[];
  exited: Promise<number | null>;
}

export function startWorker(env: Record<string, string>): WorkerProcess {
  // BENCH_WORKER_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, to see where a worker's time goes.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const problems: string[] = [];
  let rest = '';
  let onStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const read = (chunk: Buffer): void => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('"msg":"worker started"')) onStarted();
      // pino levels: 40 warn, 50 error, 60 fatal; anything not JSON is a crash trace.
      if (/"level":(40|50|60)/.test(line) || (!line.startsWith('{') && line.trim() !== '')) {
        if (problems.length < 20) problems.push(line.slice(0, 300));
      }
    }
  };
  child.stdout?.on('data', read);
  child.stderr?.on('data', read);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, started, problems: () => problems, exited };
}

/** Waits for every worker to log that it started, or fails with what they said. */
export async function workersStarted(workers: WorkerProcess[], timeoutMs = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(workers.map((worker) => worker.started)),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`workers did not start: ${workers.flatMap((w) => w.problems()).join('\n')}`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops the workers as a supervisor would (SIGTERM) and waits for them to exit. */
export async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  }
  await Promise.all(workers.map((worker) => worker.exited));
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * CPU time a process has used so far, in ms (user + system, Linux's /proc/<pid>/stat, in clock ticks
 * of 10 ms); undefined where there is no /proc. CPU per job is steadier than jobs per second on a
 * shared machine, and says what a side costs whatever the latency it waits on.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

/** The median of several runs and their range, as `pnpm bench` reports a figure (README "Benchmarks"). */
export function medianOf(values: number[]): { median: number; min: number; max: number; runs: number[] } {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? Number.NaN)
      : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, runs: values };
}

/** Resident and peak resident memory of a process, in bytes (Linux /proc; undefined elsewhere). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number } | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * What a worker benchmark runs against: Redis (REDIS_URL with a fresh prefix, else its own
 * redis-server), a GHL sandbox in this process (its state, the call log, is then at hand), the
 * producer the receiver uses, and the worker processes started with `startWorkers`.
 */
export interface BenchWorld {
  readonly redisUrl: string;
  readonly ownRedis: boolean;
  readonly prefix: string;
  readonly sandboxUrl: string;
  readonly state: SandboxState;
  readonly control: SandboxControl;
  readonly producer: TaskUpdateProducer;
  /** Starts `count` worker processes configured for this world plus `env`, and waits until they run. */
  startWorkers(count: number, env: Record<string, string>): Promise<Record<string, string>>;
  /** The workers' warnings, errors and crash lines (the first 20 of each). */
  problems(): string[];
  /** The worker processes started so far and not stopped. */
  workers(): readonly WorkerProcess[];
  /** Stops (SIGTERM) every worker started so far, so a benchmark can start others with other settings. */
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

export async function openBenchWorld(options: {
  name: string;
  burstLimit: number;
  burstIntervalMs: number;
  rateWindow: RateWindow;
  /** The sandbox's daily limit per location (its default, 200,000, would bind a long run). */
  dailyLimit?: number;
}): Promise<BenchWorld> {
  const ownRedis: LocalRedis | undefined = process.env.REDIS_URL ? undefined : await startRedisServer();
  const redisUrl = process.env.REDIS_URL ?? ownRedis?.url ?? '';
  const prefix = `bench-${options.name}-${randomUUID().slice(0, 8)}`;
  const { app, state } = createSandboxApp({
    burstLimit: options.burstLimit,
    burstIntervalMs: options.burstIntervalMs,
    rateWindow: options.rateWindow,
    ...(options.dailyLimit !== undefined && { dailyLimit: options.dailyLimit }),
  });
  const server = createServer(app);
  server.keepAliveTimeout = 60_000; // as startSandbox: no reset on a reused idle socket
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sandboxUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const producer = await createTaskUpdateProducer({ redisUrl, prefix });
  const workers: WorkerProcess[] = [];
  const everStarted: WorkerProcess[] = [];
  return {
    redisUrl,
    ownRedis: ownRedis !== undefined,
    prefix,
    sandboxUrl,
    state,
    control: new SandboxControl(sandboxUrl),
    producer,
    async startWorkers(count, env) {
      const full: Record<string, string> = {
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
        GHL_BASE_URL: sandboxUrl,
        RATE_LIMIT_PER_INTERVAL: String(options.burstLimit),
        RATE_LIMIT_INTERVAL_MS: String(options.burstIntervalMs),
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        ...(process.env.LOCATION_CONCURRENCY && { LOCATION_CONCURRENCY: process.env.LOCATION_CONCURRENCY }),
        ...env,
      };
      const started = Array.from({ length: count }, () => startWorker(full));
      workers.push(...started);
      everStarted.push(...started);
      await workersStarted(started);
      return full;
    },
    problems: () => everStarted.flatMap((worker) => worker.problems()),
    workers: () => workers,
    async stopWorkers() {
      await stopWorkers(workers.splice(0));
    },
    async close() {
      await stopWorkers(workers);
      if (!ownRedis) {
        const keys = await producer.redis.keys(`${prefix}:*`);
        for (let k = 0; k < keys.length; k += 1000) await producer.redis.unlink(...keys.slice(k, k + 1000));
      }
      await producer.close();
      state.cancelDelays();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownRedis) await ownRedis.dispose();
    },
  };
}

/** A running baseline-worker.ts process (the minimal BullMQ + got worker). */
export interface BaselineWorker {
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Starts baseline-worker.ts for this world's queue and waits until its worker runs. */
export async function startBaselineWorker(
  world: Pick<BenchWorld, 'redisUrl' | 'prefix' | 'sandboxUrl'>,
  options: { concurrency: number; tokens: Record<string, string> },
): Promise<BaselineWorker> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'apps/worker/bench/baseline-worker.ts',
      JSON.stringify({
        redisUrl: world.redisUrl,
        prefix: world.prefix,
        ghlBaseUrl: world.sandboxUrl,
        concurrency: options.concurrency,
        tokens: options.tokens,
      }),
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baseline worker did not start: ${output}`)), 30_000);
    const read = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-2_000);
      if (output.includes('baseline worker started')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`baseline worker exited with ${code}: ${output}`));
    });
  });
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A benchmark flag that must be a positive integer: its value, `fallback` when unset, else a clear error. */
export function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  return integerAtLeast(1, 'a positive integer', name, raw, fallback);
}

/** As positiveInteger, with 0 allowed (a latency of 0 is a figure, not a missing one). */
export function nonNegativeInteger(name: string, raw: string | undefined, fallback: number): number {
  return integerAtLeast(0, 'a non-negative integer', name, raw, fallback);
}

function integerAtLeast(
  min: number,
  what: string,
  name: string,
  raw: string | undefined,
  fallback: number,
): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be ${what}, got ${raw}`);
  return value;
}

/** The ids of a benchmark's seeded world, under its own `name`: locations, their contacts and tokens, and a pool of tasks. */
export function poolIds(name: string): {
  locationId: (i: number) => string;
  contactId: (i: number) => string;
  tokenOf: (i: number) => string;
  taskId: (k: number) => string;
} {
  const pad = (n: number): string => String(n).padStart(4, '0');
  return {
    locationId: (i) => `${name}Loc${pad(i)}`,
    contactId: (i) => `${name}Contact${pad(i)}`,
    tokenOf: (i) => `pit-${name}-${pad(i)}`,
    taskId: (k) => `${name}Task${String(k).padStart(7, '0')}`,
  };
}

/** Seeds `locations` locations with one contact each, and `pool` tasks, task k on location k mod `locations`. */
export function seedTaskPool(
  state: SandboxState,
  ids: ReturnType<typeof poolIds>,
  locations: number,
  pool: number,
): void {
  state.seed({
    locations: Array.from({ length: locations }, (_, i) => ({
      id: ids.locationId(i),
      tokens: [ids.tokenOf(i)],
    })),
    contacts: Array.from({ length: locations }, (_, i) => ({
      id: ids.contactId(i),
      locationId: ids.locationId(i),
    })),
  });
  state.seed({
    tasks: Array.from({ length: pool }, (_, k) => ({
      id: ids.taskId(k),
      contactId: ids.contactId(k % locations),
      title: 'bench',
    })),
  });
}
