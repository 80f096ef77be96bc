import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { waitFor } from '@closeloop/test-support';

/** The repository root: entries are given relative to it, as the `start:*` scripts give them. */
export const ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** A shipped entry point running as its own process; everything it prints is collected in `output`. */
export interface Proc {
  child: ChildProcess;
  output: string[];
}

/**
 * Starts `entry` (e.g. `apps/worker/src/main.ts`) the way `pnpm start:*` does (`node --import tsx`),
 * with this process's environment plus `env`.
 */
export function startProcess(entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return { child, output };
}

/** SIGTERM, so the process takes its own shutdown path; resolves with its exit code. */
export async function stopProcess(proc: Proc): Promise<number | null> {
  if (proc.child.exitCode !== null) return proc.child.exitCode;
  return new Promise((resolveExit) => {
    proc.child.once('exit', (code) => resolveExit(code));
    proc.child.kill('SIGTERM');
  });
}

/**
 * The worker entry with fast retries and its metrics on a free port (the default 9464 would clash with
 * other test files and with `pnpm dev`); `env` carries the rest (Redis, GHL, location).
 */
export function startWorkerProcess(env: Record<string, string>): Proc {
  return startProcess('apps/worker/src/main.ts', {
    RETRY_BASE_MS: '50',
    RETRY_CAP_MS: '200',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    ...env,
  });
}

/** Resolves once the receiver answers `/readyz` and the worker has logged that it started. */
export async function waitUntilServing(receiverUrl: string, worker: Proc): Promise<void> {
  await waitFor(async () => (await fetch(`${receiverUrl}/readyz`)).ok, {
    timeoutMs: 20_000,
    description: 'the receiver process to be ready',
  });
  await waitFor(() => worker.output.join('').includes('worker started'), {
    timeoutMs: 20_000,
    description: 'the worker process to start',
  });
}
