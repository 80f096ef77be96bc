import type { Cluster, Redis } from 'ioredis';

/**
 * The ordering guard: a stale event never overwrites a newer one (docs/ordering.md).
 *
 * Per task, Redis keeps the order key of the last event applied to GHL; a job whose event is older
 * is skipped. The order key is a tuple, compared field by field:
 *
 * 1. `orderMs`: the event's `occurredAt`, but never later than when closeloop received it. A sender
 *    whose clock runs ahead (a local time sent with `Z`) would otherwise stamp an event hours in the
 *    future and make every real event for that task look stale until then.
 * 2. `receivedMs`: helpdesks send second precision, so a close and a reopen in the same second tie on
 *    (1); the one received later wins. The producer makes one process's receive times strictly
 *    increasing (packages/queue producer.ts), so this is the receiver's order.
 * 3. the job id: any remaining tie (two receivers in the same millisecond) resolves the same way in
 *    every worker, whatever order the jobs run in.
 *
 * Checking alone is not enough with concurrency: two jobs for one task could both pass the check and
 * their PUTs reach GHL in either order. So the check also takes a short per-task lock (holder = job
 * id); a second job waits (delayed, no attempt spent) until the first has finished, then sees its
 * marker. The marker is raised only after GHL said 200 ("set if greater", atomically), so a crash
 * between the call and the marker only repeats an idempotent PUT.
 *
 * An ambiguous outcome (timeout, connection reset, a gateway's 5xx, a call cut off at shutdown) leaves
 * the task fenced: GHL may still apply that PUT later. If the next event went through at once, the
 * late PUT could land after it and undo it while the marker says the newer event won. So after an
 * ambiguous outcome no event for the task is written, the failed job's own retry included, until
 * the fence expires (AMBIGUOUS_HOLD_MS); by then the late PUT has landed or never will, and the
 * events that follow are applied in order again.
 */

/**
 * A job that finds its task locked checks again after at most this long: the holder usually finishes
 * within one GHL call (milliseconds), far sooner than its lock would expire.
 */
export const BUSY_RECHECK_MS = 500;

/** Keeps the marker this long after the last event for a task; older redeliveries are not expected. */
export const ORDER_MARKER_TTL_SECONDS = 30 * 24 * 60 * 60;

/** The order of one event; see the header. */
export interface OrderKey {
  orderMs: number;
  receivedMs: number;
  jobId: string;
}

/** `min(occurredAt, receivedAt)` and the receive time: an event cannot have happened after we got it. */
export function orderKeyFor(occurredAt: string, receivedAt: string, jobId: string): OrderKey {
  const receivedMs = Date.parse(receivedAt);
  return { orderMs: Math.min(Date.parse(occurredAt), receivedMs), receivedMs, jobId };
}

// The marker is "orderMs|receivedMs|jobId". A marker written before this format is a bare number
// (occurredAt in ms), read as (n, 0, ""). `newer(a, b)` is the tuple compare a > b.
const COMPARE = `
local function parse(marker)
  local o, r, id = string.match(marker, '^(%d+)|(%d+)|(.*)$')
  if o then return tonumber(o), tonumber(r), id end
  return tonumber(marker) or 0, 0, ''
end
local function newer(ao, ar, aid, bo, br, bid)
  if ao ~= bo then return ao > bo end
  if ar ~= br then return ar > br end
  return aid > bid
end
`;

// KEYS: marker, lock, fence. ARGV: orderMs, receivedMs, jobId (= holder), lockTtlMs.
// Returns {0, markerOrderMs} stale · {1, pttl} locked · {3, pttl} fenced · {2, 0} go.
const BEGIN = `${COMPARE}
local o, r, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local marker = redis.call('GET', KEYS[1])
if marker then
  local mo, mr, mid = parse(marker)
  if newer(mo, mr, mid, o, r, id) then return {0, mo} end
end
local fence = redis.call('PTTL', KEYS[3])
if fence > 0 then return {3, fence} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= id then return {1, redis.call('PTTL', KEYS[2])} end
redis.call('SET', KEYS[2], id, 'PX', ARGV[4])
return {2, 0}
`;

// KEYS: marker, lock. ARGV: orderMs, receivedMs, jobId, ttlSeconds.
const COMMIT = `${COMPARE}
local o, r, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local marker = redis.call('GET', KEYS[1])
local stored = 0
local raise = true
if marker then
  local mo, mr, mid = parse(marker)
  raise = newer(o, r, id, mo, mr, mid)
end
if raise then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. id, 'EX', ARGV[4])
  stored = 1
end
if redis.call('GET', KEYS[2]) == id then redis.call('DEL', KEYS[2]) end
return stored
`;

// KEYS: lock, fence. ARGV: holder, fenceMs (0 = no fence).
const RELEASE = `
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface GuardCommands {
  closeloopOrderBegin(
    orderKey: string,
    lockKey: string,
    fenceKey: string,
    orderMs: string,
    receivedMs: string,
    holder: string,
    lockTtlMs: string,
  ): Promise<[number, number]>;
  closeloopOrderCommit(
    orderKey: string,
    lockKey: string,
    orderMs: string,
    receivedMs: string,
    holder: string,
    ttlSeconds: string,
  ): Promise<number>;
  closeloopOrderRelease(lockKey: string, fenceKey: string, holder: string, fenceMs: string): Promise<number>;
}

export type BeginResult =
  | { kind: 'go' }
  | { kind: 'stale'; lastAppliedMs: number }
  | { kind: 'busy'; msBeforeNext: number; fenced: boolean };

export interface TaskOrderGuard {
  /** Checks the marker and the fence, and takes the task's lock for `order.jobId`. */
  begin(taskId: string, order: OrderKey): Promise<BeginResult>;
  /** After GHL's 200: raises the marker if this event is newer, releases the lock. */
  commit(taskId: string, order: OrderKey): Promise<void>;
  /**
   * On any other outcome: releases the lock if `holder` still has it. `fenceMs` > 0 after an
   * ambiguous outcome: no event for the task is written for that long.
   */
  release(taskId: string, holder: string, fenceMs?: number): Promise<void>;
  /** The marker's orderMs, for tests and operators. */
  lastApplied(taskId: string): Promise<number | undefined>;
}

export function createTaskOrderGuard(
  redis: Redis | Cluster,
  prefix: string,
  lockTtlMs: number,
): TaskOrderGuard {
  const commands = redis as unknown as Redis & GuardCommands;
  // defineCommand sends EVALSHA and falls back to EVAL once per connection (ioredis docs).
  if (typeof (commands as Partial<GuardCommands>).closeloopOrderBegin !== 'function') {
    redis.defineCommand('closeloopOrderBegin', { numberOfKeys: 3, lua: BEGIN });
    redis.defineCommand('closeloopOrderCommit', { numberOfKeys: 2, lua: COMMIT });
    redis.defineCommand('closeloopOrderRelease', { numberOfKeys: 2, lua: RELEASE });
  }
  const orderKey = (taskId: string): string => `${prefix}:task-order:${taskId}`;
  const lockKey = (taskId: string): string => `${prefix}:task-lock:${taskId}`;
  const fenceKey = (taskId: string): string => `${prefix}:task-fence:${taskId}`;

  return {
    async begin(taskId, order) {
      const [status, value] = await commands.closeloopOrderBegin(
        orderKey(taskId),
        lockKey(taskId),
        fenceKey(taskId),
        String(order.orderMs),
        String(order.receivedMs),
        order.jobId,
        String(lockTtlMs),
      );
      if (status === 0) return { kind: 'stale', lastAppliedMs: value };
      // A lock is released within one call, so it is rechecked soon; a fence lasts what it says.
      if (status === 1) {
        return { kind: 'busy', msBeforeNext: Math.min(Math.max(0, value), BUSY_RECHECK_MS), fenced: false };
      }
      if (status === 3) return { kind: 'busy', msBeforeNext: Math.max(0, value), fenced: true };
      return { kind: 'go' };
    },
    async commit(taskId, order) {
      await commands.closeloopOrderCommit(
        orderKey(taskId),
        lockKey(taskId),
        String(order.orderMs),
        String(order.receivedMs),
        order.jobId,
        String(ORDER_MARKER_TTL_SECONDS),
      );
    },
    async release(taskId, holder, fenceMs = 0) {
      await commands.closeloopOrderRelease(
        lockKey(taskId),
        fenceKey(taskId),
        holder,
        String(Math.max(0, Math.round(fenceMs))),
      );
    },
    async lastApplied(taskId) {
      const value = await redis.get(orderKey(taskId));
      if (value === null) return undefined;
      return Number(value.split('|')[0]);
    },
  };
}
