import type { Redis } from 'ioredis';

/**
 * The ordering guard: a stale event never overwrites a newer one (docs/architecture.md).
 *
 * Per task, Redis keeps the `occurredAt` (ms) of the last event applied to GHL. A job whose event is
 * older is skipped. Checking alone is not enough with concurrency: two jobs for one task (a quick
 * close → reopen) could both pass the check and their PUTs reach GHL in either order. So the check
 * also takes a short per-task lock (holder = job id); a second job for the task waits (delayed, no
 * attempt spent) until the first has finished, then sees its marker. The marker is raised only after
 * GHL said 200 ("set if greater", atomically), so a crash between the call and the marker only
 * repeats an idempotent PUT. The lock's TTL bounds how long a crashed holder blocks the task; the
 * same job, re-run after a stall, takes its own lock over at once.
 */

/**
 * A job that finds its task locked checks again after at most this long: the holder usually finishes
 * within one GHL call (milliseconds), far sooner than its lock would expire.
 */
export const BUSY_RECHECK_MS = 500;

/** Keeps the marker this long after the last event for a task; older redeliveries are not expected. */
export const ORDER_MARKER_TTL_SECONDS = 30 * 24 * 60 * 60;

const BEGIN = `
local last = tonumber(redis.call('GET', KEYS[1]))
if last and last > tonumber(ARGV[1]) then return {0, last} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return {1, redis.call('PTTL', KEYS[2])} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {2, 0}
`;

const COMMIT = `
local last = tonumber(redis.call('GET', KEYS[1]))
local stored = 0
if not last or tonumber(ARGV[1]) > last then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return stored
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface GuardCommands {
  closeloopOrderBegin(
    orderKey: string,
    lockKey: string,
    occurredAtMs: string,
    holder: string,
    lockTtlMs: string,
  ): Promise<[number, number]>;
  closeloopOrderCommit(
    orderKey: string,
    lockKey: string,
    occurredAtMs: string,
    holder: string,
    ttlSeconds: string,
  ): Promise<number>;
  closeloopOrderRelease(lockKey: string, holder: string): Promise<number>;
}

export type BeginResult =
  { kind: 'go' } | { kind: 'stale'; lastAppliedMs: number } | { kind: 'busy'; msBeforeNext: number };

export interface TaskOrderGuard {
  /** Checks the marker and takes the task's lock for `holder`. */
  begin(taskId: string, occurredAtMs: number, holder: string): Promise<BeginResult>;
  /** After GHL's 200: raises the marker if this event is newer, releases the lock. */
  commit(taskId: string, occurredAtMs: number, holder: string): Promise<void>;
  /** On any other outcome: releases the lock if `holder` still has it. */
  release(taskId: string, holder: string): Promise<void>;
  /** The marker, for tests and operators. */
  lastApplied(taskId: string): Promise<number | undefined>;
}

export function createTaskOrderGuard(redis: Redis, prefix: string, lockTtlMs: number): TaskOrderGuard {
  const commands = redis as unknown as Redis & GuardCommands;
  // defineCommand sends EVALSHA and falls back to EVAL once per connection (ioredis docs).
  if (typeof (commands as Partial<GuardCommands>).closeloopOrderBegin !== 'function') {
    redis.defineCommand('closeloopOrderBegin', { numberOfKeys: 2, lua: BEGIN });
    redis.defineCommand('closeloopOrderCommit', { numberOfKeys: 2, lua: COMMIT });
    redis.defineCommand('closeloopOrderRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  const orderKey = (taskId: string): string => `${prefix}:task-order:${taskId}`;
  const lockKey = (taskId: string): string => `${prefix}:task-lock:${taskId}`;

  return {
    async begin(taskId, occurredAtMs, holder) {
      const [status, value] = await commands.closeloopOrderBegin(
        orderKey(taskId),
        lockKey(taskId),
        String(occurredAtMs),
        holder,
        String(lockTtlMs),
      );
      if (status === 0) return { kind: 'stale', lastAppliedMs: value };
      if (status === 1) return { kind: 'busy', msBeforeNext: Math.min(Math.max(0, value), BUSY_RECHECK_MS) };
      return { kind: 'go' };
    },
    async commit(taskId, occurredAtMs, holder) {
      await commands.closeloopOrderCommit(
        orderKey(taskId),
        lockKey(taskId),
        String(occurredAtMs),
        holder,
        String(ORDER_MARKER_TTL_SECONDS),
      );
    },
    async release(taskId, holder) {
      await commands.closeloopOrderRelease(lockKey(taskId), holder);
    },
    async lastApplied(taskId) {
      const value = await redis.get(orderKey(taskId));
      return value === null ? undefined : Number(value);
    },
  };
}
