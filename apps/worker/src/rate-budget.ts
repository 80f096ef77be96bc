import { rateLimitWait } from './failure-policy.js';
import type { RateLimitState } from '@closeloop/ghl';
import type { Cluster, Redis } from 'ioredis';

/**
 * The per-location request budget, shared by every worker process through Redis (docs/rate-budget.md).
 *
 * GHL limits each app per location: 100 requests per 10 s and 200,000 per day by default, other
 * figures for some apps and locations, and it does not say whether the 10 s window is fixed or
 * sliding (docs/ghl-api.md §2). So the budget is a **sliding log**: per location, a sorted set of the
 * times requests were sent (or are reserved to be sent). A request may go at `t` only if fewer than
 * `max` requests fall in `(t - interval, t]`. That holds whatever window GHL counts: a fixed window
 * is one of the sliding ones.
 *
 * **Reservations instead of retries.** A job that finds the budget spent does not come back to try
 * again (with a backlog, that is many activations per GHL call). It reserves the next free slot in
 * the log and is delayed until exactly then; back at its slot it claims the reservation and sends.
 * Slots are handed out in order, so under any backlog a job is activated about twice per GHL call.
 * Jobs of other locations never wait behind it: they have their own log.
 *
 * **GHL's headers win.** Every answer's `X-RateLimit-Max` and `-Interval-Milliseconds` replace the
 * configured figures for that location; a `Remaining` lower than the log expects (another installation
 * of the app, GHL counting differently) adds the missing requests to the log; a 429 or a daily
 * remainder of 0 holds the location (extend-only: a shorter hold never shortens a longer one). After
 * a daily hold, one request probes whether the day has reset before the others follow.
 *
 * One Lua script per decision, with Redis' clock (`TIME`), so processes with skewed clocks agree.
 */
export interface RateBudget {
  /**
   * One request from the location's budget. With a `holder` (the job's id and what it sends), a
   * request that cannot go now reserves its slot: `msBeforeNext` is then exact, and the same holder
   * claims it when it comes back. Without a holder, nothing is reserved: `msBeforeNext` is when the
   * next slot frees, as of now.
   */
  take(locationId: string, holder?: string): Promise<BudgetTake>;
  /**
   * After the call the take allowed: frees the holder's place among the location's calls in flight.
   * When jobs wait for a place, the first of them is handed it: its holder is returned, for the
   * caller to wake that job (it would otherwise come back only after its estimated turn).
   */
  release(locationId: string, holder: string): Promise<string | undefined>;
  /** Whether the holder has a place among the location's calls in flight (handed over by a release). */
  holdsPlace(locationId: string, holder: string): Promise<boolean>;
  /** What GHL said on an answer: corrects the location's limits and its log (see above). */
  observe(
    locationId: string,
    rateLimit: RateLimitState,
    status: number | undefined,
    /** The holder whose request this answered: its entry in the log is re-stamped with the answer's time. */
    holder?: string,
    /** How long the call took, send to answer, as the caller measured it: waiters' turns are estimated from it. */
    callMs?: number,
  ): Promise<void>;
  /** Holds every worker back from this location for `ms` (extend-only). */
  holdBack(locationId: string, ms: number): Promise<void>;
}

export type BudgetTake =
  | { ok: true }
  | {
      ok: false;
      msBeforeNext: number;
      /** True when a slot is reserved for the holder at that time: come back then, not earlier or in a herd. */
      reserved: boolean;
      /** True when the location's calls-in-flight cap is full (nothing reserved). */
      busy?: boolean;
    };

export interface RateBudgetOptions {
  /** Requests per interval until GHL's headers say otherwise (RATE_LIMIT_PER_INTERVAL). */
  perInterval: number;
  intervalMs: number;
  /** LOCATION_CONCURRENCY: GHL calls in flight per location, across every worker (0 or unset = no cap). */
  locationConcurrency?: number;
  /** How long an in-flight place is kept if its holder never releases it (a crashed worker). */
  inflightTtlMs?: number;
}

/** The shortest turn a waiter for a call-in-flight place is told to expect (see TAKE). */
export const MIN_TURN_MS = 10;

/** A waiter's turn before any of the location's calls has been answered (see TAKE). */
export const FIRST_TURN_MS = 1_000;

/**
 * Added to every slot: GHL sees a request a little after we send it, and by network jitter two
 * requests 10 s apart at our end can look 9.99 s apart at GHL's. 1 % of the interval (100 ms for
 * GHL's 10 s) keeps the log on the safe side at a cost of 1 % of the throughput.
 */
export const SLOT_MARGIN_RATIO = 0.01;

/**
 * A slot due within this long is waited for in the worker instead of delaying the job: a delay costs
 * an activation (BullMQ moves the job to delayed and back), a wait this short costs less than that.
 */
export const SHORT_WAIT_MS = 500;

/** After a daily hold, the probe has this long to come back before another request may probe. */
export const DAILY_PROBE_MS = 30_000;

// KEYS: log (ZSET slot-ms → member: a reservation is the holder, a request in flight holder!sent, an
// answered one holder!done@<ms>), state (HASH max, interval, holdUntil, dailyHold, probe, lag, lagMean,
// callMs, callMean, waiterSeq),
// inflight (ZSET holder → expiry ms), waiters (ZSET holder → arrival order). ARGV: defaultMax, defaultInterval, marginRatio, holder ('' = no
// reservation), probeMs, inflightCap (0 = none), inflightTtlMs, minTurnMs, firstTurnMs, shortWaitMs.
// Returns {1, 0} go · {0, waitMs, reserved(0|1), busy(0|1)}.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = ARGV[4]
-- Only holders (the PUT) take a place in flight: a lookup has no release, so it is not capped.
local cap = holder ~= '' and tonumber(ARGV[6]) or 0
local ttl = tonumber(ARGV[7])

-- The location's calls in flight (LOCATION_CONCURRENCY), so a slow location cannot take every
-- worker's slot. Only a request that could go now asks for a place: one that must wait for a slot
-- reserves it, and asks when it claims it. Entries expire, so a crashed worker's calls free their places.
local function placeFree()
  if cap == 0 then return true end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  return redis.call('ZSCORE', KEYS[3], holder) or redis.call('ZCARD', KEYS[3]) < cap
end

-- No place: the job queues as a waiter (first come, first served). A release hands its place to the
-- first waiter and wakes it (RELEASE), so waiters are not activated again and again. Each also comes
-- back on its own after twice its estimated turn, in case a wake is lost: its position over the cap,
-- times how long a turn takes (the location's calls, measured by the worker around each call, or
-- the oldest call in flight so far, whichever is longer; FIRST_TURN_MS before any answer).
local function waitForPlace()
  if not redis.call('ZSCORE', KEYS[4], holder) then
    redis.call('ZADD', KEYS[4], redis.call('HINCRBY', KEYS[2], 'waiterSeq', 1), holder)
  end
  redis.call('PEXPIRE', KEYS[4], ttl * 4)
  local position = redis.call('ZRANK', KEYS[4], holder)
  local callMs = redis.call('HGET', KEYS[2], 'callMs')
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local running = oldest[2] and (now - (tonumber(oldest[2]) - ttl)) or 0
  local took = math.max(callMs and tonumber(callMs) or tonumber(ARGV[9]), tonumber(ARGV[8]), running)
  return {0, math.min(ttl, 2 * math.ceil((position + 1) / cap) * took), 0, 1}
end

-- The location's state in one read.
local state = redis.call('HMGET', KEYS[2], 'max', 'interval', 'holdUntil', 'lagMean', 'callMean')
local max = tonumber(state[1] or ARGV[1])
local interval = tonumber(state[2] or ARGV[2])
-- The margin: a share of the interval, for the time between a request's slot and GHL counting it
-- while it is in flight. Once answered, its entry carries the answer's time (OBSERVE), which is never
-- earlier than GHL's count; slots planned after an entry not answered yet add the expected lag
-- instead (countedBy below).
local margin = math.ceil(interval * tonumber(ARGV[3]))
local holdUntil = tonumber(state[3] or '0')
local lag = tonumber(state[4] or '0')
local callMean = tonumber(state[5] or '0')

-- When GHL will have counted the request of a log entry, at the latest. An answered one (re-stamped
-- by OBSERVE) or one GHL reported (ghl@) is there already. One in flight is re-stamped when its
-- answer comes, a reservation after it is sent: both are expected the location's lag later (the
-- mean send-to-answer time OBSERVE learns). Slots that follow an entry are spaced from this time, not
-- from the entry's score: spaced from the score, every window of a backlog came the lag later than
-- its reservations said, the lateness added up window after window, and claims found their window
-- full again and again (with 300 ms answers at 20 per 1 s, jobs were activated up to 12 times).
local function answered(member)
  return string.find(member, '!done@', 1, true) ~= nil or string.sub(member, 1, 4) == 'ghl@'
end
local function countedBy(member, score)
  if answered(member) then return score end
  if string.sub(member, -5) == '!sent' then return math.max(score + lag, now) end
  return math.max(score, now) + lag
end

-- Sends now: the log records the request, and a holder takes its place in flight.
local function go(member)
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('PEXPIRE', KEYS[1], interval * 2 + margin)
  if cap > 0 then
    redis.call('ZADD', KEYS[3], now + ttl, holder)
    redis.call('PEXPIRE', KEYS[3], ttl * 2)
    redis.call('ZREM', KEYS[4], holder)
  end
  return {1, 0}
end

-- Waits for a slot: not a call in flight, so a place handed over by a release is given back.
local function reserve(at)
  if cap > 0 then
    redis.call('ZREM', KEYS[3], holder)
    -- No longer a waiter for a place either: a release must not wake it before its slot.
    redis.call('ZREM', KEYS[4], holder)
  end
  redis.call('ZADD', KEYS[1], at, holder)
  redis.call('PEXPIRE', KEYS[1], at - now + interval * 2 + margin)
  return {0, at - now, 1}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval - margin)

if holder ~= '' then
  local reserved = redis.call('ZSCORE', KEYS[1], holder)
  if reserved then
    reserved = tonumber(reserved)
    redis.call('ZREM', KEYS[1], holder)
    if reserved <= now and holdUntil <= now then
      -- A job claims its slot late (a delayed job is promoted when a worker gets to it), and GHL
      -- counts requests when they arrive, so the slot is checked again against what is in the log
      -- now, answers included (observe re-stamps each sent request with its answer's time).
      local inWindow = redis.call('ZCOUNT', KEYS[1], '(' .. (now - interval - margin), now)
      if inWindow < max then
        if placeFree() then return go(holder .. '!sent') end
        -- The slot is its own; only a place in flight is missing: it keeps the slot and waits for one.
        redis.call('ZADD', KEYS[1], reserved, holder)
        return waitForPlace()
      end
      -- The window filled up meanwhile (answers came later than expected). A short wait keeps this
      -- place: the worker waits it out (task-processor.ts), it costs no activation. A longer one
      -- takes the next free slot, as a new request would: the slots after this one are promised to
      -- the jobs behind it, and squeezing in between would fill their windows and make their claims
      -- wait in turn, each costing an activation.
      local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - interval - margin), now, 'WITHSCORES', 'LIMIT', inWindow - max, 1)
      local keep = math.max(now + 1, countedBy(first[1], tonumber(first[2])) + interval + margin)
      if keep - now <= tonumber(ARGV[10]) then return reserve(keep) end
    elseif holdUntil <= now then
      return reserve(reserved)
    end
    -- A hold came after the reservation, or the window filled for longer than a short wait: give
    -- the slot up and queue again.
  end
end

if redis.call('HGET', KEYS[2], 'dailyHold') == '1' and holdUntil <= now then
  if not placeFree() then return waitForPlace() end
  -- The day may have reset: this request probes alone; the others wait for its answer.
  redis.call('HSET', KEYS[2], 'holdUntil', now + tonumber(ARGV[5]), 'probe', '1')
  return go(holder ~= '' and (holder .. '!sent') or ('probe@' .. now))
end

-- Slots are handed out in order: never before the last one reserved.
local slot = math.max(now, holdUntil)
local count = redis.call('ZCARD', KEYS[1])
if count > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  slot = math.max(slot, tonumber(last[2]))
end
if count >= max then
  local limiting = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
  slot = math.max(slot, countedBy(limiting[1], tonumber(limiting[2])) + interval + margin)
end
-- The places in flight are planned too: a slot at which the location's cap is full makes its claim
-- wait for a place (another activation, and a send later than the window planned). Once a call's
-- duration is known, such a slot moves to the end of the call cap requests before it that is not
-- yet answered (a reservation's call starts at its slot, or now if that has passed). Only a slot
-- that is reserved, or one free now without a place, is planned so: scanning the log on every take
-- cost the worker half its jobs/s at a cap of 200 (pnpm bench worker, concurrency 200: 0.74 to 0.39).
local function planPlaces(at)
  if cap == 0 or callMean == 0 or count < cap then return at end
  local recent = redis.call('ZREVRANGE', KEYS[1], 0, cap * 4, 'WITHSCORES')
  local open = 0
  for i = 1, #recent, 2 do
    if not answered(recent[i]) then
      open = open + 1
      if open == cap then return math.max(at, math.max(tonumber(recent[i + 1]), now) + callMean) end
    end
  end
  return at
end
if slot <= now then
  if placeFree() then
    return go(holder ~= '' and (holder .. '!sent') or ('anon@' .. now .. '#' .. count))
  end
  local planned = planPlaces(slot)
  if planned > now then return reserve(planned) end
  -- The slot is free but no place is: the slot is reserved now, so that the job, once woken by a
  -- release, claims it and goes (two activations) instead of queueing for a later slot.
  redis.call('ZADD', KEYS[1], now, holder)
  redis.call('PEXPIRE', KEYS[1], interval * 2 + margin)
  return waitForPlace()
end
slot = planPlaces(slot)
if holder == '' then return {0, slot - now, 0} end
return reserve(slot)
`;

// KEYS: log, state. ARGV: max|'' , interval|'', remaining|'', dailyRemaining|'', status|'', holdMs (daily),
// holder|'', marginRatio, callMs|''.
// A 429's own wait is the failure policy's (Retry-After, else the interval): it holds the location
// through holdBack, not here.
const OBSERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- One sample of a duration, kept two ways in one read and one write: a high-water mark with a slow
-- decay, and an exponential moving average (a fifth of each sample, from the first one).
local function learn(highField, meanField, sample)
  local kept = redis.call('HMGET', KEYS[2], highField, meanField)
  local high = math.max(sample, math.floor(tonumber(kept[1] or '0') * 0.9))
  local mean = kept[2] and math.floor(tonumber(kept[2]) * 0.8 + sample * 0.2 + 0.5) or sample
  redis.call('HSET', KEYS[2], highField, high, meanField, mean)
end
-- How far back GHL's count may reach in the log: its window is measured from when the request
-- arrived, the log's entries are stamped up to this answer's latency later, and slots add a margin.
local slack = 0
if ARGV[7] ~= '' then
  -- GHL counted this request when it arrived, at the latest now: the log keeps the later time, so
  -- the slots after it are measured from a time GHL cannot have seen earlier.
  local sent = redis.call('ZSCORE', KEYS[1], ARGV[7] .. '!sent')
  if sent then
    -- Renamed as answered (TAKE spaces the slots after it from this time, adding no lag), under a
    -- name of its own: the holder's retry is another request, with an entry of its own.
    redis.call('ZREM', KEYS[1], ARGV[7] .. '!sent')
    redis.call('ZADD', KEYS[1], now, ARGV[7] .. '!done@' .. now)
    -- The lag between a send and its answer. Its high-water mark widens the count of missing
    -- requests below; its mean plans the slots (TAKE expects requests still in flight or reserved to
    -- be counted this much later). Planned from the high-water mark, every window of a backlog came
    -- as late as the slowest answer; a claim whose answers came later than the mean waits a moment
    -- in the worker instead.
    local sample = math.max(0, now - tonumber(sent))
    slack = sample
    learn('lag', 'lagMean', sample)
  end
end
if ARGV[9] ~= '' then
  -- How long the location's calls take: the high-water mark estimates the waiters' turns, the mean
  -- plans the places in flight (TAKE).
  learn('callMs', 'callMean', tonumber(ARGV[9]))
end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[2], 'max', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'interval', ARGV[2]) end
local max = tonumber(redis.call('HGET', KEYS[2], 'max') or '0')
local interval = tonumber(redis.call('HGET', KEYS[2], 'interval') or '0')
local status = tonumber(ARGV[5] ~= '' and ARGV[5] or '0')
if status >= 200 and status < 300 and redis.call('HGET', KEYS[2], 'probe') == '1' then
  -- The probe after a daily hold went through: the day has reset.
  redis.call('HDEL', KEYS[2], 'dailyHold', 'probe', 'holdUntil')
end
if ARGV[4] == '0' then
  local holdUntil = tonumber(redis.call('HGET', KEYS[2], 'holdUntil') or '0')
  redis.call('HSET', KEYS[2], 'dailyHold', '1', 'holdUntil', math.max(holdUntil, now + tonumber(ARGV[6])))
  redis.call('HDEL', KEYS[2], 'probe')
  return 1
end
if ARGV[3] ~= '' and max > 0 and interval > 0 and status >= 200 and status < 300 then
  local remaining = tonumber(ARGV[3])
  -- Counted over a window wider than GHL's (margin and latency added): a request GHL still counts
  -- must not look missing only because its entry was stamped later than GHL saw it. An entry added
  -- for nothing blocks a slot for a whole interval; one missed is caught by a later answer.
  slack = slack + math.ceil(interval * tonumber(ARGV[8])) + tonumber(redis.call('HGET', KEYS[2], 'lag') or '0')
  local counted = redis.call('ZCOUNT', KEYS[1], '(' .. (now - interval - slack), now)
  local missing = (max - remaining) - counted
  -- Requests GHL counted and the log does not know of: recorded now, so the next slots respect them.
  for i = 1, math.min(missing, max) do
    redis.call('ZADD', KEYS[1], now, 'ghl@' .. now .. '#' .. i .. '#' .. counted)
  end
end
redis.call('PEXPIRE', KEYS[2], 7 * 86400000)
return 0
`;

// KEYS: inflight, waiters. ARGV: holder, inflightTtlMs. Returns the waiter handed the place, or false.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local next = redis.call('ZPOPMIN', KEYS[2])
if #next == 0 then return false end
-- The place goes to the first waiter at once, so no later job can take it before the waiter is back.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), next[1])
return next[1]
`;

const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holdUntil = tonumber(redis.call('HGET', KEYS[1], 'holdUntil') or '0')
local wanted = now + tonumber(ARGV[1])
if wanted > holdUntil then redis.call('HSET', KEYS[1], 'holdUntil', wanted) end
redis.call('PEXPIRE', KEYS[1], 7 * 86400000)
return 0
`;

interface BudgetCommands {
  closeloopBudgetTake(
    log: string,
    state: string,
    inflight: string,
    waiters: string,
    defaultMax: string,
    defaultInterval: string,
    marginRatio: string,
    holder: string,
    probeMs: string,
    inflightCap: string,
    inflightTtlMs: string,
    minTurnMs: string,
    firstTurnMs: string,
    shortWaitMs: string,
  ): Promise<[number, number, number?, number?]>;
  closeloopBudgetObserve(
    log: string,
    state: string,
    max: string,
    interval: string,
    remaining: string,
    dailyRemaining: string,
    status: string,
    dailyHoldMs: string,
    holder: string,
    marginRatio: string,
    callMs: string,
  ): Promise<number>;
  closeloopBudgetHold(state: string, ms: string): Promise<number>;
  closeloopBudgetRelease(
    inflight: string,
    waiters: string,
    holder: string,
    inflightTtlMs: string,
  ): Promise<string | null>;
}

/** How long a location waits when GHL says its day is spent: until the next UTC midnight, at most an hour. */
export type DailyHold = (now: number) => number;

export function createRateBudget(
  redis: Redis | Cluster,
  prefix: string,
  options: RateBudgetOptions,
  // The failure policy's rule for a spent day (next UTC midnight, probed at least hourly), one place.
  dailyHoldMs: DailyHold = (now) => rateLimitWait({ dailyRemaining: 0 }, now).waitMs,
): RateBudget {
  const commands = redis as unknown as Redis & BudgetCommands;
  if (typeof (commands as Partial<BudgetCommands>).closeloopBudgetTake !== 'function') {
    redis.defineCommand('closeloopBudgetTake', { numberOfKeys: 4, lua: TAKE });
    redis.defineCommand('closeloopBudgetRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('closeloopBudgetObserve', { numberOfKeys: 2, lua: OBSERVE });
    redis.defineCommand('closeloopBudgetHold', { numberOfKeys: 1, lua: HOLD });
  }
  const logKey = (locationId: string): string => `${prefix}:ghl-budget:${locationId}:log`;
  const stateKey = (locationId: string): string => `${prefix}:ghl-budget:${locationId}:state`;
  const inflightKey = (locationId: string): string => `${prefix}:ghl-budget:${locationId}:inflight`;
  const waitersKey = (locationId: string): string => `${prefix}:ghl-budget:${locationId}:waiters`;
  const inflightTtlMs = String(options.inflightTtlMs ?? 60_000);
  const text = (value: number | undefined): string => (value === undefined ? '' : String(value));

  return {
    async take(locationId, holder = '') {
      const [go, waitMs, reserved, busy] = await commands.closeloopBudgetTake(
        logKey(locationId),
        stateKey(locationId),
        inflightKey(locationId),
        waitersKey(locationId),
        String(options.perInterval),
        String(options.intervalMs),
        String(SLOT_MARGIN_RATIO),
        holder,
        String(DAILY_PROBE_MS),
        String(options.locationConcurrency ?? 0),
        inflightTtlMs,
        String(MIN_TURN_MS),
        String(FIRST_TURN_MS),
        String(SHORT_WAIT_MS),
      );
      if (go === 1) return { ok: true };
      return { ok: false, msBeforeNext: Math.max(0, waitMs), reserved: reserved === 1, busy: busy === 1 };
    },
    async release(locationId, holder) {
      if ((options.locationConcurrency ?? 0) === 0) return undefined;
      const next = await commands.closeloopBudgetRelease(
        inflightKey(locationId),
        waitersKey(locationId),
        holder,
        inflightTtlMs,
      );
      return next ?? undefined;
    },
    async holdsPlace(locationId, holder) {
      return (await redis.zscore(inflightKey(locationId), holder)) !== null;
    },
    async observe(locationId, rateLimit, status, holder = '', callMs) {
      await commands.closeloopBudgetObserve(
        logKey(locationId),
        stateKey(locationId),
        text(rateLimit.max),
        text(rateLimit.intervalMs),
        text(rateLimit.remaining),
        text(rateLimit.dailyRemaining),
        text(status),
        String(dailyHoldMs(Date.now())),
        holder,
        String(SLOT_MARGIN_RATIO),
        callMs === undefined ? '' : String(Math.max(0, Math.round(callMs))),
      );
    },
    async holdBack(locationId, ms) {
      await commands.closeloopBudgetHold(stateKey(locationId), String(Math.max(0, Math.round(ms))));
    },
  };
}
