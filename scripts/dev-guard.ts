/**
 * The safety net of `pnpm dev` (scripts/dev.ts): it stops what dev started when dev itself goes
 * away, however that happens. scripts/dev.ts starts it first, in its own process group (Ctrl-C does
 * not reach it), with an IPC channel, and tells it each process it starts (`watch`) and each that
 * exited (`forget`). When the channel closes — dev stopped everything and disconnected, crashed, or
 * was killed with SIGKILL (the kernel closes the channel in every case) — it stops whatever is still
 * alive, highest tier first (the worker and receiver drain while Redis is still up), then removes
 * dev's lock file, so the next `pnpm dev` on the folder starts only once everything is gone.
 *
 *   node --import tsx scripts/dev-guard.ts <lock file>
 */
import { readFileSync, rmSync } from 'node:fs';
import { GUARD_READY, STOP_TIMEOUT_MS, isAlive, type GuardMessage } from './dev-guard-protocol.js';

const lockFile = process.argv[2];
const watched = new Map<number, { name: string; tier: number }>();

function log(message: string): void {
  process.stdout.write(`[dev] ${message}\n`);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Polls: these processes are dev's children, not ours, so no 'exit' event reaches us. */
async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

async function stopEverything(): Promise<void> {
  const tiers = [...new Set([...watched.values()].map((entry) => entry.tier))].sort((a, b) => b - a);
  for (const tier of tiers) {
    const entries = [...watched].filter(([pid, entry]) => entry.tier === tier && isAlive(pid));
    if (entries.length === 0) continue;
    log(`pnpm dev is gone; stopping ${entries.map(([, entry]) => entry.name).join(', ')}`);
    await Promise.all(
      entries.map(async ([pid, entry]) => {
        signal(pid, 'SIGTERM');
        if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) {
          log(`${entry.name} (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
          signal(pid, 'SIGKILL');
          await waitForExit(pid, 5_000);
        }
      }),
    );
  }
}

function releaseLock(): void {
  if (!lockFile) return;
  try {
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { guardPid?: number };
    if (lock.guardPid === process.pid) rmSync(lockFile, { force: true });
  } catch {
    // no lock, or not ours
  }
}

let stopping: Promise<void> | undefined;
function stop(): void {
  stopping ??= stopEverything()
    .catch((error: unknown) => log(`guard: ${error instanceof Error ? error.message : String(error)}`))
    .finally(() => {
      releaseLock();
      process.exit(0);
    });
}

// The terminal's stdout may be gone by the time we write (its window closed): never die of EPIPE.
process.stdout.on('error', () => undefined);
process.on('message', (message: GuardMessage) => {
  if (message.type === 'watch') watched.set(message.pid, { name: message.name, tier: message.tier });
  else watched.delete(message.pid);
});
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGHUP', () => undefined);
if (!process.send) {
  log('scripts/dev-guard.ts is started by scripts/dev.ts (it needs its IPC channel)');
  process.exit(2);
}
process.send(GUARD_READY);
