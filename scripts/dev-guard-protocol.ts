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
