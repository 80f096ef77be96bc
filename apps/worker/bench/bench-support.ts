/**
 * What the worker's benchmarks share (budget-bench.ts, fairness-bench.ts): worker processes as
 * `pnpm start:worker` runs them, and the arithmetic of their figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A worker process, as `pnpm start:worker` runs it, with only the given environment. */
export interface WorkerProcess {
  child: ChildProcess;
  started: Promise<void>;
  problems: () => string[];
  exited: Promise<number | null>;
}

export function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
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

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}
