/**
 * "Nothing lost" under chaos (issue 9), one implementation for e2e/test/chaos.test.ts (a small run in
 * `pnpm test`) and scripts/chaos.ts (`pnpm chaos --events 10000`, a long run).
 *
 * The shipped processes run as they do in production: two receivers and several workers (`node
 * --import tsx apps/…/main.ts`, configured by environment) share one redis-server of their own,
 * started with AOF (`--appendonly yes --appendfsync everysec`, as docker-compose.yml does). The GHL
 * sandbox runs in this process. Meanwhile:
 *
 * - signed Standard Webhooks events go to both receivers: close/reopen sequences per task, with
 *   ordered `occurredAt`, some delivered out of order, and some re-sent with the same webhook-id (a
 *   helpdesk redelivering). An answer other than 202 (503 while Redis is away) is retried with the
 *   same webhook-id, as a sender would; only 202s count as accepted;
 * - the sandbox injects ratio faults on every call: 5xx, 429 with Retry-After, reset connections,
 *   latency; a few tasks answer 503 always (their events must end as RETRIES_EXHAUSTED dead
 *   letters), and a few tasks do not exist (404: GHL_NOT_FOUND);
 * - a worker is killed with SIGKILL at a quarter of the sends and another at three quarters, each
 *   replaced by a new process; Redis is stopped with SIGTERM at half (it flushes the AOF on the way
 *   down), left down for a moment, and started again on the same port and folder.
 *
 * When the queue is empty, every accepted event must be exactly one of: a completed job whose task
 * is in the state of its newest completed event (docs/ordering.md), or one dead letter
 * (docs/contracts.md, "Dead letters"). The report counts what is not (lost, wrong state, dead letters
 * written twice) as problems.
 *
 * Only 127.0.0.1: every process binds loopback, the sandbox too.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, type FaultSpec, type RunningSandbox } from '@closeloop/ghl-sandbox';
import {
  DEAD_LETTER_QUEUE,
  DeadLetter,
  TASK_UPDATES_QUEUE,
  completedFor,
  jobIdFor,
  type TaskEventType,
} from '@closeloop/queue';
import { findFreePort, startRedisServer, waitFor, type LocalRedis } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { signedEventHeaders } from './webhooks.js';
import { startProcess, startWorkerProcess, stopProcess, type Proc } from './processes.js';

export interface ChaosOptions {
  /** Distinct events (webhook-ids) to send; re-sends come on top. */
  events: number;
  /** Worker processes at once (at least 2). Default 3. */
  workers?: number;
  /** Receiver processes (the sender alternates between them). Default 2. */
  receivers?: number;
  /** GHL locations, each with its own token and contact. Default 4. */
  locations?: number;
  /** The share of events sent a second time with the same webhook-id. Default 0.15. */
  duplicateRatio?: number;
  /** Sends per second (paced, so that the kills and the restart land while work is in flight). Default 100. */
  rate?: number;
  /** Requests in flight at once from the sender. Default 32. */
  concurrency?: number;
  /** How long Redis stays down between its stop and its start. Default 1500 ms. */
  redisOutageMs?: number;
  /** The whole run, sending and draining, is over by then; what is still queued counts as lost. Default 10 min. */
  timeoutMs?: number;
  /** Seeds the plan (tasks, order, re-sends); the timing of processes is not reproducible. */
  seed?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
  /** Overrides for the workers' environment. */
  workerEnv?: Record<string, string>;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  /** Distinct events planned and sent. */
  sent: number;
  /** Of them, re-sent on purpose with the same webhook-id. */
  resent: number;
  /** HTTP requests made, retries included. */
  requests: number;
  /** Distinct events answered 202 at least once. */
  accepted: number;
  /** Distinct events never answered 202 before the sender gave up. */
  notAccepted: number;
  /** Answers 202 `duplicate: true`. */
  duplicatesAnswered: number;
  /** Non-202 answers (or no answer) that the sender retried, by status ("network" for no answer). */
  retriedAnswers: Record<string, number>;
  /** Answers the sender did not retry (a 4xx to a valid, signed event). */
  refused: number;
  /** Events answered `duplicate: false` more than once: enqueued twice. */
  acceptedAsNewTwice: number;
  /** Accepted events whose job completed and whose task ended in the state of its newest completed event. */
  completedAsExpected: number;
  /** …of which GHL was called for, and skipped as stale (a newer event had been applied). */
  applied: number;
  skippedStale: number;
  /** Accepted events with one dead letter, by reason. */
  deadLetters: Record<string, number>;
  /** Accepted events with neither a completed job nor a dead letter, by job state. */
  lost: Record<string, number>;
  /** Tasks whose final state is not that of their newest completed event; the events on them. */
  wrongStateTasks: number;
  wrongStateEvents: number;
  /** Dead letters added more than once for one job, or left beside a completed job. */
  deadLettersWrittenTwice: number;
  /** Dead letters that belong to no event sent, or do not match the dead-letter schema. */
  unexpectedDeadLetters: number;
  /** Events on tasks that always answer 503 or do not exist: each must end as a dead letter. */
  doomedEvents: number;
  /** …of which did not. */
  doomedNotDeadLettered: number;
  /** What the workers ran into: the sandbox's answers to PUTs, by status (0 = connection reset). */
  ghlAnswers: Record<string, number>;
  /** "job stalled" warnings logged by the workers (jobs of a killed worker run again). */
  stalledWarnings: number;
  chaos: { workerKills: number; redisRestarts: number; events: string[] };
  /** Exit codes of the processes still running at the end, stopped with SIGTERM. */
  exitCodes: (number | null)[];
  /** The first few problems, each with the event or task it concerns. */
  details: string[];
}

type TaskKind = 'normal' | 'doomed' | 'missing';

interface PlannedTask {
  id: string;
  kind: TaskKind;
  locationId: string;
  contactId: string;
  events: PlannedEvent[];
}

interface PlannedEvent {
  webhookId: string;
  jobId: string;
  task: PlannedTask;
  type: TaskEventType;
  occurredAt: string;
  body: string;
  /** Filled by the sender. */
  answers202: number;
  answersNew: number;
}

/** mulberry32: a small seeded PRNG, so that a plan can be produced again from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The sandbox's faults, first match wins. They are ratio faults, applied to every GHL call for the
 * whole run (the sandbox's ratio is deterministic: floor(k·ratio) of the first k matching calls).
 * Latency stays well under the workers' GHL_TIMEOUT_MS, so no PUT lands after its worker gave up on
 * it (that case has its own test, apps/worker/test/ordering.test.ts).
 */
const RATIO_FAULTS: FaultSpec[] = [
  { status: 500, ratio: 0.04 },
  { status: 502, ratio: 0.02 },
  { status: 503, ratio: 0.02 },
  // A short Retry-After: GHL's own 429 holds the whole location back for as long as it says.
  { status: 429, ratio: 0.02, headers: { 'retry-after': '1' } },
  { resetConnection: true, ratio: 0.03 },
  { latencyMs: 300, ratio: 0.06 },
  { latencyMs: 1_200, ratio: 0.02 },
];

/**
 * The workers' environment. Retries are few and quick, so that some events exhaust them among the
 * random faults too; the fence after an ambiguous outcome (AMBIGUOUS_HOLD_MS) is short but still
 * longer than any injected latency; a killed worker's jobs run again within seconds (short lock and
 * stall check); the budget is far above what the run needs, since the sandbox's limits are raised too.
 */
const WORKER_ENV: Record<string, string> = {
  RETRY_ATTEMPTS: '3',
  RETRY_BASE_MS: '50',
  RETRY_CAP_MS: '300',
  GHL_TIMEOUT_MS: '4000',
  AMBIGUOUS_HOLD_MS: '1000',
  LOCK_DURATION_MS: '5000',
  STALLED_INTERVAL_MS: '2000',
  SHUTDOWN_TIMEOUT_MS: '5000',
  WORKER_CONCURRENCY: '20',
  LOCATION_CONCURRENCY: '20',
  RATE_LIMIT_PER_INTERVAL: '1000000',
  RATE_LIMIT_INTERVAL_MS: '10000',
  LOG_LEVEL: 'warn',
};

/** The share of tasks whose every call answers 503, and of tasks that do not exist in GHL. */
const DOOMED_SHARE = 0.03;
const MISSING_SHARE = 0.02;

/** How long the sender keeps retrying one event before it gives up (real senders retry for days). */
const DELIVERY_DEADLINE_MS = 60_000;

function plan(
  options: Required<Pick<ChaosOptions, 'events' | 'locations' | 'duplicateRatio'>>,
  seed: number,
) {
  const random = prng(seed);
  const run = seed.toString(36);
  const locations = Array.from({ length: options.locations }, (_, i) => ({
    id: `chaosLoc${run}x${i}`,
    contactId: `chaosContact${run}x${i}`,
    token: `pit-chaos-${randomBytes(12).toString('hex')}`,
  }));
  const tasks: PlannedTask[] = [];
  const events: PlannedEvent[] = [];
  // Every event happened in the last hour, a second apart per task: ordered by occurredAt, and never
  // later than its receipt (the guard bounds occurredAt by receivedAt, docs/ordering.md).
  const base = Date.now() - 60 * 60 * 1_000;
  while (events.length < options.events) {
    const index = tasks.length;
    const location = locations[index % locations.length] ?? locations[0];
    if (!location) throw new Error('no location');
    const roll = random();
    // Tasks 1 and 2 always, so that even a small run has both kinds of dead letter.
    const kind: TaskKind =
      index === 1 || roll < DOOMED_SHARE
        ? 'doomed'
        : index === 2 || roll < DOOMED_SHARE + MISSING_SHARE
          ? 'missing'
          : 'normal';
    // A close/reopen pair at least; normal tasks sometimes a third and fourth event.
    const count = Math.min(
      options.events - events.length,
      kind === 'normal' ? 2 + Math.floor(random() * 3) : 2,
    );
    const task: PlannedTask = {
      // Fixed width: the sandbox matches a fault's taskId as a substring of the path, and task 1
      // must not catch tasks 10 to 19.
      id: `chaosTask${run}x${String(index).padStart(7, '0')}`,
      kind,
      locationId: location.id,
      contactId: location.contactId,
      events: [],
    };
    for (let k = 0; k < count; k += 1) {
      const type: TaskEventType = k % 2 === 0 ? 'ticket.closed' : 'ticket.reopened';
      const occurredAt = new Date(base + index * 10 + k * 1_000).toISOString();
      const webhookId = `msg_chaos_${run}_${index}_${k}`;
      const body = JSON.stringify({
        type,
        occurredAt,
        ticket: { id: `CH-${index}` },
        ghl: { locationId: task.locationId, contactId: task.contactId, taskId: task.id },
      });
      const event: PlannedEvent = {
        webhookId,
        jobId: jobIdFor('events', webhookId),
        task,
        type,
        occurredAt,
        body,
        answers202: 0,
        answersNew: 0,
      };
      task.events.push(event);
      events.push(event);
    }
    tasks.push(task);
  }

  // Delivery order: tasks interleaved at random; a quarter of the tasks get their events in reverse
  // (the reopen before the close), as helpdesks deliver late and out of order.
  const perTask = tasks.map((task) => (random() < 0.25 ? [...task.events].reverse() : [...task.events]));
  const order: PlannedEvent[] = [];
  while (perTask.some((queue) => queue.length > 0)) {
    const open = perTask.filter((queue) => queue.length > 0);
    const pick = open[Math.floor(random() * open.length)];
    const next = pick?.shift();
    if (next) order.push(next);
  }
  // Re-sends: the same delivery again a little later, like a helpdesk that missed the first answer.
  const sends: PlannedEvent[] = [...order];
  let resent = 0;
  for (let i = 0; i < order.length; i += 1) {
    if (random() >= options.duplicateRatio) continue;
    const event = order[i];
    if (!event) continue;
    const at = Math.min(sends.length, i + resent + 1 + Math.floor(random() * 40));
    sends.splice(at, 0, event);
    resent += 1;
  }
  return { locations, tasks, events, sends, resent };
}

/** Runs one chaos round and returns its counts; never throws for what it finds (see `problems`). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = options.log ?? (() => undefined);
  const workerCount = Math.max(2, options.workers ?? 3);
  const receiverCount = Math.max(1, options.receivers ?? 2);
  const rate = options.rate ?? 100;
  const concurrency = options.concurrency ?? 32;
  const deadline = started + (options.timeoutMs ?? 10 * 60_000);
  const { locations, tasks, events, sends, resent } = plan(
    {
      events: options.events,
      locations: options.locations ?? 4,
      duplicateRatio: options.duplicateRatio ?? 0.15,
    },
    seed,
  );
  const prefix = `chaos-${seed.toString(36)}`;
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const chaosEvents: string[] = [];
  const note = (line: string): void => {
    const stamped = `+${((Date.now() - started) / 1_000).toFixed(1)}s ${line}`;
    chaosEvents.push(stamped);
    log(stamped);
  };

  let redisServer: LocalRedis | undefined;
  let sandbox: RunningSandbox | undefined;
  const receivers: Proc[] = [];
  const workers: Proc[] = [];
  const retired: Proc[] = [];
  let redis: Redis | undefined;
  const queues: Queue[] = [];
  try {
    // A Redis of its own (the suite's shared one is never stopped), with AOF as in production; the
    // port and folder stay, so the restart finds the AOF again.
    redisServer = await startRedisServer({
      args: ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'],
    });
    sandbox = await startSandbox({ burstLimit: 1_000_000, dailyLimit: 1_000_000_000 });
    await sandbox.control.seed({
      locations: locations.map((location) => ({ id: location.id, tokens: [location.token] })),
      contacts: locations.map((location) => ({ id: location.contactId, locationId: location.id })),
      tasks: tasks
        .filter((task) => task.kind !== 'missing')
        .map((task) => ({ id: task.id, contactId: task.contactId, title: 'Call back', completed: false })),
    });
    // The doomed tasks' faults first: first match wins, so their calls never reach the ratio faults.
    for (const task of tasks.filter((t) => t.kind === 'doomed')) {
      await sandbox.control.injectFault({ status: 503, ratio: 1, taskId: task.id });
    }
    for (const fault of RATIO_FAULTS) await sandbox.control.injectFault(fault);

    const shared = { REDIS_URL: redisServer.url, QUEUE_PREFIX: prefix };
    const receiverUrls: string[] = [];
    for (let i = 0; i < receiverCount; i += 1) {
      const port = await findFreePort();
      receivers.push(
        startProcess('apps/receiver/src/main.ts', {
          ...shared,
          PORT: String(port),
          HOST: '127.0.0.1',
          ADMIN_PORT: String(await findFreePort()),
          ADMIN_HOST: '127.0.0.1',
          WEBHOOK_SECRET: secret,
          LOG_LEVEL: 'warn',
        }),
      );
      receiverUrls.push(`http://127.0.0.1:${port}`);
    }
    const workerEnv = {
      ...shared,
      ...WORKER_ENV,
      GHL_BASE_URL: sandbox.url,
      GHL_LOCATION_TOKENS: locations.map((location) => `${location.id}=${location.token}`).join(' '),
      ...options.workerEnv,
    };
    const startWorker = async (): Promise<{ proc: Proc; ready: Promise<void> }> => {
      const port = await findFreePort();
      const proc = startWorkerProcess({
        ...workerEnv,
        METRICS_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
      });
      const ready = waitFor(
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`worker exited ${proc.child.exitCode}`);
          const response = await fetch(`http://127.0.0.1:${port}/readyz`);
          await response.body?.cancel();
          return response.ok;
        },
        { timeoutMs: 60_000, intervalMs: 100, description: 'a worker process to be ready' },
      ).then(() => undefined);
      return { proc, ready };
    };
    const starting = await Promise.all(Array.from({ length: workerCount }, () => startWorker()));
    workers.push(...starting.map((s) => s.proc));
    await Promise.all([
      ...starting.map((s) => s.ready),
      ...receiverUrls.map((url) =>
        waitFor(
          async () => {
            const response = await fetch(`${url}/readyz`);
            await response.body?.cancel();
            return response.ok;
          },
          { timeoutMs: 60_000, intervalMs: 100, description: 'a receiver process to be ready' },
        ),
      ),
    ]);
    note(
      `started: redis ${redisServer.url} (AOF everysec), ${receiverCount} receivers, ${workerCount} workers, ` +
        `sandbox ${sandbox.url}; ${events.length} events on ${tasks.length} tasks, ${resent} re-sent, seed ${seed}`,
    );

    // --- chaos, at fixed points of the sending ----------------------------------------------------
    let workerKills = 0;
    let redisRestarts = 0;
    const killWorker = async (index: number): Promise<void> => {
      const victim = workers[index];
      if (!victim) return;
      await new Promise<void>((resolveExit) => {
        if (victim.child.exitCode !== null || victim.child.signalCode !== null) resolveExit();
        else {
          victim.child.once('exit', () => resolveExit());
          victim.child.kill('SIGKILL');
        }
      });
      workerKills += 1;
      retired.push(victim);
      note(`worker ${index} killed with SIGKILL (pid ${victim.child.pid})`);
      const replacement = await startWorker();
      workers[index] = replacement.proc;
      await replacement.ready;
      note(`worker ${index} replaced (pid ${replacement.proc.child.pid}) and ready`);
    };
    const restartRedis = async (): Promise<void> => {
      const server = redisServer;
      if (!server) return;
      // SIGTERM: Redis fsyncs the AOF before it exits; what it acknowledged must all be back.
      await server.stop();
      note(`redis stopped (SIGTERM) for ${options.redisOutageMs ?? 1_500} ms`);
      // The outage's length is the point here, not a wait for something to happen.
      await sleep(options.redisOutageMs ?? 1_500);
      await server.restart();
      redisRestarts += 1;
      note('redis started again on the same port and folder (AOF loaded)');
    };
    const schedule: { at: number; action: () => Promise<void> }[] = [
      { at: Math.floor(sends.length * 0.25), action: () => killWorker(0) },
      { at: Math.floor(sends.length * 0.5), action: restartRedis },
      { at: Math.floor(sends.length * 0.75), action: () => killWorker(1 % workerCount) },
    ];
    const chaosRuns: Promise<void>[] = [];

    // --- the sender ---------------------------------------------------------------------------------
    const retriedAnswers: Record<string, number> = {};
    let requests = 0;
    let refused = 0;
    let duplicatesAnswered = 0;
    const details: string[] = [];
    const detail = (line: string): void => {
      if (details.length < 30) details.push(line);
    };
    let turn = 0;
    const deliver = async (event: PlannedEvent): Promise<void> => {
      const giveUpAt = Math.min(deadline, Date.now() + DELIVERY_DEADLINE_MS);
      for (let attempt = 0; ; attempt += 1) {
        // Round robin, retries included: a sender behind a load balancer reaches either receiver.
        const url = receiverUrls[turn++ % receiverUrls.length] ?? receiverUrls[0];
        let status: number | 'network';
        let answer: unknown;
        requests += 1;
        try {
          const response = await fetch(`${url}/webhooks/events`, {
            method: 'POST',
            headers: signedEventHeaders(secret, event.webhookId, event.body),
            body: event.body,
            signal: AbortSignal.timeout(10_000),
          });
          status = response.status;
          answer = await response.json().catch(() => undefined);
        } catch {
          status = 'network';
        }
        if (status === 202) {
          event.answers202 += 1;
          const duplicate = (answer as { duplicate?: unknown } | undefined)?.duplicate;
          if (duplicate === true) duplicatesAnswered += 1;
          else if (duplicate === false) event.answersNew += 1;
          else detail(`event ${event.webhookId}: 202 without a duplicate flag`);
          return;
        }
        if (status !== 'network' && status < 500 && status !== 408 && status !== 429) {
          refused += 1;
          detail(`event ${event.webhookId}: refused ${status} ${JSON.stringify(answer)}`);
          return;
        }
        retriedAnswers[String(status)] = (retriedAnswers[String(status)] ?? 0) + 1;
        const wait = Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (Date.now() + wait > giveUpAt) return;
        await sleep(wait);
      }
    };

    const sendStarted = Date.now();
    const inFlight = new Set<Promise<void>>();
    let nextReport = 0;
    for (let i = 0; i < sends.length; i += 1) {
      for (const step of schedule) {
        if (step.at === i) {
          chaosRuns.push(
            step.action().catch((error: unknown) => note(`chaos step failed: ${String(error)}`)),
          );
        }
      }
      // Past the bound, the rest is not sent (and counts as not accepted).
      if (Date.now() > deadline) {
        note(`timed out after ${i} of ${sends.length} deliveries`);
        break;
      }
      const due = sendStarted + (i * 1_000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      const event = sends[i];
      if (!event) continue;
      const sending = deliver(event).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      if (i >= nextReport) {
        log(`sent ${i}/${sends.length}`);
        nextReport += Math.max(1_000, Math.floor(sends.length / 10));
      }
    }
    await Promise.all(inFlight);
    await Promise.all(chaosRuns);
    note(`all ${sends.length} deliveries answered or given up (${requests} requests)`);

    // --- drain ----------------------------------------------------------------------------------
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 3 });
    const taskUpdates = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
    const dead = new Queue(DEAD_LETTER_QUEUE, { connection: redis, prefix });
    queues.push(taskUpdates, dead);
    const pendingStates = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
    let emptyReadings = 0;
    let lastLog = 0;
    while (Date.now() < deadline) {
      const counts = await taskUpdates.getJobCounts(...pendingStates);
      const pending = Object.values(counts).reduce((sum, n) => sum + n, 0);
      // Twice in a row: a killed worker's job sits in `active` until the stall check moves it back.
      emptyReadings = pending === 0 ? emptyReadings + 1 : 0;
      if (emptyReadings >= 2) break;
      if (Date.now() - lastLog > 5_000) {
        log(`draining: ${JSON.stringify(counts)}`);
        lastLog = Date.now();
      }
      await sleep(250);
    }
    note(emptyReadings >= 2 ? 'queue drained' : 'timed out before the queue drained');

    // --- the verdict ----------------------------------------------------------------------------
    const byJobId = new Map(events.map((event) => [event.jobId, event]));
    type Outcome =
      | { kind: 'completed'; stale: boolean }
      | { kind: 'dead'; reason: string }
      | { kind: 'both'; reason: string }
      | { kind: 'lost'; state: string };
    const outcomes = new Map<PlannedEvent, Outcome>();
    const deadLetters: Record<string, number> = {};
    const lost: Record<string, number> = {};
    let applied = 0;
    let skippedStale = 0;
    let unexpectedDeadLetters = 0;
    for (let i = 0; i < events.length; i += 200) {
      await Promise.all(
        events.slice(i, i + 200).map(async (event) => {
          const [state, letter] = await Promise.all([
            taskUpdates.getJobState(event.jobId),
            dead.getJob(event.jobId),
          ]);
          if (letter) {
            const parsed = DeadLetter.safeParse(letter.data);
            const original = (letter.data as { job?: { idempotencyKey?: unknown } }).job;
            if (!parsed.success || original?.idempotencyKey !== event.webhookId) {
              unexpectedDeadLetters += 1;
              detail(`dead letter ${event.jobId}: not the documented format or not this event's`);
            }
            const reason = parsed.success ? parsed.data.reason : 'MALFORMED';
            outcomes.set(event, state === 'completed' ? { kind: 'both', reason } : { kind: 'dead', reason });
            return;
          }
          if (state === 'completed') {
            const job = await taskUpdates.getJob(event.jobId);
            const result = job?.returnvalue as { skipped?: string; completed?: boolean } | undefined;
            const stale = result?.skipped === 'STALE_EVENT';
            if (!stale && result?.completed !== completedFor(event.type)) {
              detail(`event ${event.webhookId}: completed with result ${JSON.stringify(result)}`);
            }
            outcomes.set(event, { kind: 'completed', stale });
            return;
          }
          outcomes.set(event, { kind: 'lost', state });
        }),
      );
    }

    // Dead letters of no event sent, and letters added more than once (the queue's event stream).
    const allLetters = await dead.getJobs(['wait', 'delayed', 'active', 'completed', 'failed'], 0, -1);
    for (const letter of allLetters) {
      if (letter.id === undefined || !byJobId.has(letter.id)) {
        unexpectedDeadLetters += 1;
        detail(`dead letter ${letter.id ?? '?'} belongs to no event sent`);
      }
    }
    const added = new Map<string, number>();
    const stream = await redis.xrange(`${prefix}:${DEAD_LETTER_QUEUE}:events`, '-', '+');
    for (const [, fields] of stream) {
      const record = new Map<string, string>();
      for (let f = 0; f + 1 < fields.length; f += 2) record.set(fields[f] ?? '', fields[f + 1] ?? '');
      const jobId = record.get('jobId');
      if (record.get('event') === 'added' && jobId) added.set(jobId, (added.get(jobId) ?? 0) + 1);
    }
    let deadLettersWrittenTwice = 0;
    for (const [jobId, times] of added) {
      if (times > 1) {
        deadLettersWrittenTwice += 1;
        detail(`dead letter ${jobId} added ${times} times`);
      }
    }

    // Task states: the state of each task's newest event whose job completed (docs/ordering.md: the
    // newest event wins; a dead-lettered event changed nothing), open when none did.
    let wrongStateTasks = 0;
    let wrongStateEvents = 0;
    const wrongTasks = new Set<PlannedTask>();
    for (let i = 0; i < tasks.length; i += 50) {
      await Promise.all(
        tasks.slice(i, i + 50).map(async (task) => {
          if (task.kind === 'missing') return;
          const done = task.events
            .filter((event) => {
              const kind = outcomes.get(event)?.kind;
              return kind === 'completed' || kind === 'both';
            })
            .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
          const newest = done.at(-1);
          const expected = newest ? completedFor(newest.type) : false;
          const actual = (await sandbox?.control.getTask(task.id))?.completed;
          if (actual === expected) return;
          wrongStateTasks += 1;
          wrongStateEvents += task.events.length;
          wrongTasks.add(task);
          detail(
            `task ${task.id}: completed=${String(actual)}, expected ${String(expected)}; events ` +
              task.events
                .map((event) => `${event.type}@${event.occurredAt}:${JSON.stringify(outcomes.get(event))}`)
                .join(', '),
          );
        }),
      );
    }

    let accepted = 0;
    let completedAsExpected = 0;
    let acceptedAsNewTwice = 0;
    for (const event of events) {
      if (event.answersNew > 1) {
        acceptedAsNewTwice += 1;
        detail(`event ${event.webhookId}: answered duplicate:false ${event.answersNew} times`);
      }
      if (event.answers202 === 0) continue;
      accepted += 1;
      const outcome = outcomes.get(event);
      if (!outcome) continue;
      if (outcome.kind === 'completed') {
        if (wrongTasks.has(event.task)) continue;
        completedAsExpected += 1;
        if (outcome.stale) skippedStale += 1;
        else applied += 1;
      } else if (outcome.kind === 'dead') {
        deadLetters[outcome.reason] = (deadLetters[outcome.reason] ?? 0) + 1;
      } else if (outcome.kind === 'both') {
        deadLettersWrittenTwice += 1;
        detail(`event ${event.webhookId}: a dead letter (${outcome.reason}) beside its completed job`);
      } else {
        lost[outcome.state] = (lost[outcome.state] ?? 0) + 1;
        detail(`event ${event.webhookId} (job ${event.jobId}) lost: job state ${outcome.state}`);
      }
    }
    for (const event of events) {
      if (event.answers202 === 0) detail(`event ${event.webhookId}: never accepted`);
    }
    let doomedEvents = 0;
    let doomedNotDeadLettered = 0;
    for (const task of tasks) {
      if (task.kind === 'normal') continue;
      for (const event of task.events) {
        doomedEvents += 1;
        const outcome = outcomes.get(event);
        if (outcome?.kind !== 'dead') {
          doomedNotDeadLettered += 1;
          detail(
            `event ${event.webhookId} on a ${task.kind} task: ${JSON.stringify(outcome)}, not a dead letter`,
          );
        }
      }
    }

    const ghlAnswers: Record<string, number> = {};
    for (const call of await sandbox.control.calls({ method: 'PUT' })) {
      ghlAnswers[String(call.status)] = (ghlAnswers[String(call.status)] ?? 0) + 1;
    }
    const stalledWarnings = [...workers, ...retired]
      .map((proc) => proc.output.join('').split('job stalled').length - 1)
      .reduce((sum, n) => sum + n, 0);

    const exitCodes = await Promise.all([...workers, ...receivers].map((proc) => stopProcess(proc)));
    workers.length = 0;
    receivers.length = 0;
    return {
      seed,
      durationMs: Date.now() - started,
      sent: events.length,
      resent,
      requests,
      accepted,
      notAccepted: events.length - accepted,
      duplicatesAnswered,
      retriedAnswers,
      refused,
      acceptedAsNewTwice,
      completedAsExpected,
      applied,
      skippedStale,
      deadLetters,
      lost,
      wrongStateTasks,
      wrongStateEvents,
      deadLettersWrittenTwice,
      unexpectedDeadLetters,
      doomedEvents,
      doomedNotDeadLettered,
      ghlAnswers,
      stalledWarnings,
      chaos: { workerKills, redisRestarts, events: chaosEvents },
      exitCodes,
      details,
    };
  } finally {
    for (const queue of queues) await queue.close();
    await redis?.quit().catch(() => redis?.disconnect());
    await Promise.all(
      [...workers, ...receivers].map(async (proc) => {
        const exited = new Promise((resolveExit) => {
          if (proc.child.exitCode !== null || proc.child.signalCode !== null) resolveExit(undefined);
          else proc.child.once('exit', resolveExit);
        });
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await sandbox?.close();
    await redisServer?.dispose();
  }
}

/** What makes the run fail: anything lost, in the wrong state, written twice or never accepted. */
export function problemsOf(report: ChaosReport): string[] {
  const lost = Object.values(report.lost).reduce((sum, n) => sum + n, 0);
  const deadTotal = Object.values(report.deadLetters).reduce((sum, n) => sum + n, 0);
  const problems: string[] = [];
  if (lost > 0) problems.push(`${lost} accepted events lost`);
  if (report.wrongStateTasks > 0) problems.push(`${report.wrongStateTasks} tasks in the wrong state`);
  if (report.deadLettersWrittenTwice > 0)
    problems.push(`${report.deadLettersWrittenTwice} dead letters written twice`);
  if (report.unexpectedDeadLetters > 0)
    problems.push(`${report.unexpectedDeadLetters} unexpected dead letters`);
  if (report.acceptedAsNewTwice > 0) problems.push(`${report.acceptedAsNewTwice} events enqueued twice`);
  if (report.notAccepted > 0) problems.push(`${report.notAccepted} events never accepted`);
  if (report.refused > 0) problems.push(`${report.refused} valid events refused`);
  if (report.doomedNotDeadLettered > 0)
    problems.push(`${report.doomedNotDeadLettered} events GHL always refused are not dead letters`);
  if (report.completedAsExpected + deadTotal !== report.accepted)
    problems.push(
      `completed as expected (${report.completedAsExpected}) + dead letters (${deadTotal}) ≠ accepted (${report.accepted})`,
    );
  return problems;
}

/** The counts as printed by `pnpm chaos`. */
export function formatReport(report: ChaosReport): string {
  const lost = Object.values(report.lost).reduce((sum, n) => sum + n, 0);
  const deadTotal = Object.values(report.deadLetters).reduce((sum, n) => sum + n, 0);
  const list = (counts: Record<string, number>): string =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key} ${n}`)
      .join(', ') || 'none';
  const rows: [string, string][] = [
    [
      'sent',
      `${report.sent} events (${report.resent} re-sent with the same webhook-id), ${report.requests} requests`,
    ],
    ['accepted', `${report.accepted} (answered 202)`],
    ['not accepted', String(report.notAccepted)],
    ['retried answers', list(report.retriedAnswers)],
    ['duplicates answered', String(report.duplicatesAnswered)],
    [
      'completed as expected',
      `${report.completedAsExpected} (${report.applied} applied, ${report.skippedStale} skipped as stale)`,
    ],
    ['dead letters', `${deadTotal}: ${list(report.deadLetters)}`],
    ['lost', `${lost}${lost > 0 ? ` (${list(report.lost)})` : ''}`],
    ['wrong state', `${report.wrongStateTasks} tasks (${report.wrongStateEvents} events)`],
    ['dead letters written twice', String(report.deadLettersWrittenTwice)],
    ['unexpected dead letters', String(report.unexpectedDeadLetters)],
    ['enqueued twice', String(report.acceptedAsNewTwice)],
    ['refused', String(report.refused)],
    ['GHL answers to PUTs', list(report.ghlAnswers)],
    [
      'chaos',
      `${report.chaos.workerKills} worker SIGKILLs, ${report.chaos.redisRestarts} Redis restart, ${report.stalledWarnings} stalled-job warnings`,
    ],
    ['exit codes at the end', report.exitCodes.map(String).join(' ')],
    ['duration', `${(report.durationMs / 1_000).toFixed(1)} s (seed ${report.seed})`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}
