import { readFileSync } from 'node:fs';

/** What scripts/dev.ts and scripts/dev-guard.ts share: their IPC messages and how they look at a pid. */

/** The messages scripts/dev.ts sends scripts/dev-guard.ts over their IPC channel. */
export type GuardMessage =
  /** A process dev started; on dev's end the guard stops the highest tier first. */
  | { type: 'watch'; name: string; pid: number; tier: number }
  /** It exited: its pid may be reused, so the guard must never signal it again. */
  | { type: 'forget'; pid: number };

/** The guard's one message: it listens, dev may start things. */
export const GUARD_READY = 'ready';

/** SIGTERM → SIGKILL: the worker's SHUTDOWN_TIMEOUT_MS (25 s) + 5 s to close, + margin. */
export const STOP_TIMEOUT_MS = 40_000;

/** Alive and not a zombie (a zombie is gone, it only waits for its parent to read its status). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) is all there is
  }
}
