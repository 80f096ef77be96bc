/**
 * `pnpm dev`: the whole system on one machine (docs/contracts.md, "Commands") — Redis, the GHL
 * sandbox seeded with a demo location, contact and open tasks, the receiver and the worker — then
 * prints the URLs, the generated secrets and a ready-to-paste request. Ctrl-C stops everything it
 * started; a second Ctrl-C (a second later or more) makes the worker and receiver stop at once.
 *
 * Each part runs as its own process through the same entry points as production, configured only by
 * environment (plus LOG_FORMAT=pretty), so `pnpm dev` exercises what ships.
 *
 * The data folder: CLOSELOOP_DEV_DIR, default `.data/` in the repository. It holds
 *   dev.lock                   {pid, guardPid} of the `pnpm dev` using the folder: one at a time;
 *   dev-secrets.json           the generated secrets, kept across runs (delete it for new ones);
 *   sandbox-seed.json          the sandbox's demo data;
 *   redis/                     Redis' data (AOF), with redis-server.pid (written by redis-server)
 *                              and redis-server.port.
 *
 * Why it stops reliably (e2e/test/dev-command.test.ts):
 * - Every child runs in its own process group, so the terminal's Ctrl-C reaches only pnpm, tsx and
 *   this process, and each child gets exactly one SIGTERM, from here, in order: the worker and
 *   receiver drain while Redis is still up, Redis stops last. (In the terminal's group they got
 *   the terminal's SIGINT and then ours: the runtime takes a second signal as "exit now".)
 * - Children run as `node --import tsx`, not the `tsx` command, which relays signals to a child it
 *   runs and SIGKILLs that child when it has not acknowledged a signal within 2 × 30 ms
 *   (tsx 4.23 dist/cli.mjs, relaySignals). `pnpm dev` itself does run under the tsx command (the
 *   root package.json), so on a busy machine tsx can SIGKILL this process on Ctrl-C: that is how
 *   redis-server was left behind. Hence scripts/dev-guard.ts, started first in its own group: when
 *   this process is gone, for any reason, it stops whatever is still running and releases the lock.
 * - One `pnpm dev` per data folder (dev.lock), and a redis-server that still owns `redis/` (its
 *   pidfile names a live redis-server working in that folder) is reused when it answers PING,
 *   else reported: the folder is never opened by two servers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { GUARD_READY, STOP_TIMEOUT_MS, isAlive, type GuardMessage } from './dev-guard-protocol.js';

const ROOT = resolve(import.meta.dirname, '..');
const DATA_DIR = resolve(process.env.CLOSELOOP_DEV_DIR || join(ROOT, '.data'));
const REDIS_DIR = join(DATA_DIR, 'redis');
const LOCK_FILE = join(DATA_DIR, 'dev.lock');
const REDIS_PID_FILE = join(REDIS_DIR, 'redis-server.pid');
const REDIS_PORT_FILE = join(REDIS_DIR, 'redis-server.port');
/** Stop order: the highest tier first. */
const TIER = { redis: 0, sandbox: 1, apps: 2 } as const;
/** tsx relays the terminal's Ctrl-C a second time when we are slow to acknowledge it (see above). */
const SAME_SIGNAL_WINDOW_MS = 1_000;
const DEMO = {
  locationId: 've9EPM428h8vShlRW1KT',
  contactId: 'sx6wyHhbFdRXh302LLNR',
  email: 'jordan.demo@example.com',
  tasks: [
    { id: 'ocQHyuzHvysMo5N5VsXc', title: 'Call back about ticket ZD-4711' },
    { id: 'demoTask00000000002a', title: 'Send the onboarding pack' },
    { id: 'demoTask00000000003b', title: 'Confirm the refund' },
  ],
};

interface DevSecrets {
  webhookSecret: string;
  internalApiKey: string;
  adminPassword: string;
  ghlToken: string;
  /** The demo Zendesk source's signing secret (SOURCES_FILE below). */
  zendeskSecret: string;
}

interface DevLock {
  pid: number;
  guardPid?: number;
}

/** A process this run stops: one it started, or a redis-server it took over. */
interface Managed {
  name: string;
  pid: number;
  tier: number;
  exited: Promise<void>;
  isRunning(): boolean;
}

const managed: Managed[] = [];
let guard: ChildProcess | undefined;
let stopping = false;
let firstSignalAt: number | undefined;

function log(message: string): void {
  process.stdout.write(`[dev] ${message}\n`);
}

function fail(lines: string[]): never {
  process.stderr.write(lines.map((line) => `[dev] ${line}\n`).join(''));
  process.exit(1);
}

/** What /proc says about a process, when there is a /proc to ask. */
function procRead(pid: number, what: 'cmdline' | 'cwd'): string | undefined {
  try {
    return what === 'cwd'
      ? realpathSync(`/proc/${pid}/cwd`)
      : readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A pid from a lock is a live `pnpm dev` (or its guard), not a stranger that got the same pid. */
function isDevProcess(pid: number | undefined): pid is number {
  if (pid === undefined || !isAlive(pid)) return false;
  const cmdline = procRead(pid, 'cmdline');
  return cmdline === undefined || /scripts\/dev(-guard)?\.ts/.test(cmdline);
}

/** The pid of a live redis-server working in our redis folder, if one is. */
function findRedisOwningFolder(): number | undefined {
  const pid = readNumber(REDIS_PID_FILE);
  if (pid === undefined || !isAlive(pid)) return undefined;
  const cwd = procRead(pid, 'cwd');
  return cwd === undefined || cwd === realpathSync(REDIS_DIR) ? pid : undefined;
}

function describeRedis(): string {
  const pid = findRedisOwningFolder();
  if (pid === undefined) return 'no redis-server of its own (REDIS_URL, or not started yet)';
  const port = readNumber(REDIS_PORT_FILE);
  return `its Redis is redis-server pid ${pid}${port ? ` on port ${port} (redis://127.0.0.1:${port})` : ''}`;
}

/** One `pnpm dev` per data folder; a lock left by a dead one is taken over. */
function takeLock(): void {
  const lock: DevLock = { pid: process.pid };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(LOCK_FILE, JSON.stringify(lock), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: DevLock | undefined;
    try {
      holder = JSON.parse(readFileSync(LOCK_FILE, 'utf8')) as DevLock;
    } catch {
      holder = undefined; // half-written or unreadable: treat as stale
    }
    const livePid = [holder?.pid, holder?.guardPid].find(isDevProcess);
    if (livePid !== undefined) {
      const stillStopping = !isDevProcess(holder?.pid);
      fail([
        stillStopping
          ? `the last \`pnpm dev\` on ${DATA_DIR} is still stopping (pid ${livePid}); ${describeRedis()}.`
          : `another \`pnpm dev\` (pid ${livePid}) is running on ${DATA_DIR}; ${describeRedis()}.`,
        'Stop it first (Ctrl-C in its terminal), or set CLOSELOOP_DEV_DIR to another folder to run a second one.',
      ]);
    }
    rmSync(LOCK_FILE, { force: true });
  }
  fail([`could not take ${LOCK_FILE}: another \`pnpm dev\` is starting on the same folder`]);
}

function updateLock(lock: DevLock): void {
  // Through a rename: a reader never sees a half-written lock.
  writeFileSync(`${LOCK_FILE}.tmp`, JSON.stringify(lock));
  renameSync(`${LOCK_FILE}.tmp`, LOCK_FILE);
}

function tellGuard(message: GuardMessage): void {
  if (guard?.connected) guard.send(message);
}

async function startGuard(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'scripts', 'dev-guard.ts'), LOCK_FILE],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolveReady, reject) => {
    child.once('message', (message) =>
      message === GUARD_READY
        ? resolveReady()
        : reject(new Error(`dev-guard said ${JSON.stringify(message)}`)),
    );
    child.once('exit', (code) =>
      reject(new Error(`scripts/dev-guard.ts exited (${code}) before it was ready`)),
    );
  });
  return child;
}

/** Secrets are generated once and kept in the data folder so a restart keeps the same credentials. */
function loadOrCreateSecrets(): DevSecrets {
  const file = join(DATA_DIR, 'dev-secrets.json');
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>) : {};
  // A file from an older closeloop lacks the newer secrets: they are added, the others kept.
  const secrets: DevSecrets = {
    webhookSecret: kept.webhookSecret ?? `whsec_${randomBytes(32).toString('base64')}`,
    internalApiKey: kept.internalApiKey ?? randomBytes(24).toString('base64url'),
    adminPassword: kept.adminPassword ?? randomBytes(12).toString('base64url'),
    ghlToken: kept.ghlToken ?? `pit-dev-${randomBytes(16).toString('hex')}`,
    zendeskSecret: kept.zendeskSecret ?? randomBytes(24).toString('base64'),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/** The preferred port when free, else one the system picks; never one already picked in this run. */
const picked = new Set<number>();
async function pickPort(preferred: number): Promise<number> {
  if (!picked.has(preferred) && (await isPortFree(preferred))) {
    picked.add(preferred);
    return preferred;
  }
  for (;;) {
    const port = await new Promise<number>((resolvePort, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const free = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolvePort(free));
      });
    });
    if (!picked.has(port)) {
      picked.add(port);
      return port;
    }
  }
}

/** PING over Redis' wire protocol: true on +PONG within a second. */
function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

function manage(entry: Managed): void {
  managed.push(entry);
  tellGuard({ type: 'watch', name: entry.name, pid: entry.pid, tier: entry.tier });
  void entry.exited.then(() => tellGuard({ type: 'forget', pid: entry.pid }));
}

function start(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  tier: number,
): void {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: only this process signals it (see the header).
    detached: true,
  });
  const prefix = `[${name}] `;
  const forward = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    const text = chunk.toString();
    stream.write(
      text
        .split('\n')
        .filter((line, i, all) => line !== '' || i < all.length - 1)
        .map((line) => prefix + line)
        .join('\n') + '\n',
    );
  };
  child.stdout?.on('data', forward(process.stdout));
  child.stderr?.on('data', forward(process.stderr));
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      if (!stopping) {
        log(`${name} exited (${signal ?? code}); stopping everything`);
        void stopAll(1);
      }
      resolveExit();
    });
    child.once('error', (error) => {
      log(`${name} could not start: ${error.message}`);
      resolveExit();
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    void exited.then(() => stopAll(1));
    return;
  }
  manage({
    name,
    pid,
    tier,
    exited,
    isRunning: () => child.exitCode === null && child.signalCode === null,
  });
}

/** A redis-server an earlier `pnpm dev` left on this folder: ours from now on, watched by polling. */
function adoptRedis(pid: number): void {
  const exited = (async () => {
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 200));
  })();
  manage({ name: 'redis', pid, tier: TIER.redis, exited, isRunning: () => isAlive(pid) });
  void exited.then(() => {
    if (!stopping) {
      log('redis exited; stopping everything');
      void stopAll(1);
    }
  });
}

async function waitUntil(
  description: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${description} did not become ready within ${timeoutMs / 1000} s`);
}

const httpOk = (url: string) => async () => (await fetch(url)).ok;

async function startRedis(): Promise<string> {
  if (process.env.REDIS_URL) {
    log('using REDIS_URL from the environment');
    return process.env.REDIS_URL;
  }
  mkdirSync(REDIS_DIR, { recursive: true });
  const running = findRedisOwningFolder();
  if (running !== undefined) {
    const port = readNumber(REDIS_PORT_FILE);
    if (port === undefined || !(await pingRedis(port))) {
      fail([
        `redis-server pid ${running} already has ${REDIS_DIR} open, but does not answer PING` +
          (port ? ` on port ${port}` : '') +
          '. Stop it (kill ' +
          String(running) +
          ') and run pnpm dev again.',
      ]);
    }
    adoptRedis(running);
    log(
      `reusing redis-server pid ${running} on port ${port}, left running on this folder; it stops with this pnpm dev`,
    );
    return `redis://127.0.0.1:${port}`;
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    fail([
      'closeloop needs Redis and found none. Either:',
      '  - set REDIS_URL=redis://host:port to use a running Redis, or',
      '  - install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or',
      '  - run `docker compose up redis` and set REDIS_URL=redis://127.0.0.1:6379',
    ]);
  }
  const port = await pickPort(6379);
  // The production settings (docs/bullmq.md, "5. Reliability"): AOF on, noeviction.
  start(
    'redis',
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      REDIS_DIR,
      '--pidfile',
      REDIS_PID_FILE,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
    ],
    {},
    TIER.redis,
  );
  writeFileSync(REDIS_PORT_FILE, String(port));
  const url = `redis://127.0.0.1:${port}`;
  await waitUntil('redis-server', () => pingRedis(port));
  log(`redis-server on ${url} (data in ${relative(ROOT, REDIS_DIR) || REDIS_DIR})`);
  return url;
}

/** Stops every tier, highest first, each process with one SIGTERM; then lets the guard go. */
async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const tiers = [...new Set(managed.map((entry) => entry.tier))].sort((a, b) => b - a);
  for (const tier of tiers) {
    await Promise.all(
      managed
        .filter((entry) => entry.tier === tier && entry.isRunning())
        .map(async (entry) => {
          const timer = setTimeout(() => {
            log(`${entry.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
            signalProcess(entry.pid, 'SIGKILL');
          }, STOP_TIMEOUT_MS);
          signalProcess(entry.pid, 'SIGTERM');
          await entry.exited;
          clearTimeout(timer);
        }),
    );
  }
  if (guard) {
    const guardExited = new Promise((resolveExit) => guard?.once('exit', resolveExit));
    if (guard.connected) guard.disconnect();
    await guardExited;
  } else {
    rmSync(LOCK_FILE, { force: true });
  }
  process.exit(exitCode);
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function onSignal(signal: NodeJS.Signals): void {
  if (firstSignalAt === undefined) {
    firstSignalAt = Date.now();
    log(`${signal}: stopping (the worker and receiver finish what they are doing; Ctrl-C again to hurry)`);
    void stopAll(0);
    return;
  }
  if (Date.now() - firstSignalAt < SAME_SIGNAL_WINDOW_MS) return;
  // A second signal to the worker, receiver and sandbox makes them exit at once
  // (packages/runtime/README.md); Redis stops as soon as they are gone.
  log('stopping now');
  for (const entry of managed)
    if (entry.tier > TIER.redis && entry.isRunning()) signalProcess(entry.pid, 'SIGTERM');
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  takeLock();
  // `on`, not `once`: a second signal must reach our handler, not the default one that exits at once.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  guard = await startGuard();
  updateLock({ pid: process.pid, guardPid: guard.pid });

  const secrets = loadOrCreateSecrets();
  const redisUrl = await startRedis();
  const sandboxPort = await pickPort(Number(process.env.SANDBOX_PORT || 4010));
  const receiverPort = await pickPort(Number(process.env.PORT || 3000));
  const adminPort = await pickPort(Number(process.env.ADMIN_PORT || 3001));
  const metricsPort = await pickPort(Number(process.env.METRICS_PORT || 9464));
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;

  const seedFile = join(DATA_DIR, 'sandbox-seed.json');
  writeFileSync(
    seedFile,
    JSON.stringify({
      locations: [{ id: DEMO.locationId, tokens: [secrets.ghlToken] }],
      contacts: [{ id: DEMO.contactId, locationId: DEMO.locationId, email: DEMO.email, firstName: 'Jordan' }],
      tasks: DEMO.tasks.map((t) => ({ ...t, contactId: DEMO.contactId, completed: false })),
    }),
  );

  // The demo helpdesk: a Zendesk source whose events carry no GHL ids, so the worker finds the task
  // from the ticket reference (docs/matching.md). `pnpm send-event --source zendesk` signs for it.
  const sourcesFile = join(DATA_DIR, 'sources.yaml');
  writeFileSync(
    sourcesFile,
    [
      '# Written by pnpm dev: the demo webhook source (docs/senders/README.md).',
      'sources:',
      '  - name: zendesk',
      '    type: zendesk',
      '    secretEnv: ZENDESK_WEBHOOK_SECRET',
      `    locationId: ${DEMO.locationId}`,
      '',
    ].join('\n'),
  );

  // `node --import tsx`, not the tsx command (see the header).
  const node = (entry: string): [string, string[]] => [process.execPath, ['--import', 'tsx', entry]];
  const pretty = { LOG_FORMAT: 'pretty', LOG_LEVEL: process.env.LOG_LEVEL || 'info' };
  start(
    'sandbox',
    ...node('packages/ghl-sandbox/src/main.ts'),
    { ...pretty, PORT: String(sandboxPort), HOST: '127.0.0.1', SANDBOX_SEED_FILE: seedFile },
    TIER.sandbox,
  );
  await waitUntil('the GHL sandbox', httpOk(`${sandboxUrl}/__sandbox/health`));

  const shared = { ...pretty, REDIS_URL: redisUrl, QUEUE_PREFIX: process.env.QUEUE_PREFIX || 'closeloop' };
  start(
    'receiver',
    ...node('apps/receiver/src/main.ts'),
    {
      ...shared,
      PORT: String(receiverPort),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '127.0.0.1',
      WEBHOOK_SECRET: secrets.webhookSecret,
      INTERNAL_API_KEY: secrets.internalApiKey,
      ADMIN_USER: 'admin',
      ADMIN_PASSWORD: secrets.adminPassword,
      SOURCES_FILE: sourcesFile,
      ZENDESK_WEBHOOK_SECRET: secrets.zendeskSecret,
    },
    TIER.apps,
  );
  start(
    'worker',
    ...node('apps/worker/src/main.ts'),
    {
      ...shared,
      GHL_BASE_URL: sandboxUrl,
      GHL_TOKEN: secrets.ghlToken,
      GHL_LOCATION_ID: DEMO.locationId,
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
    },
    TIER.apps,
  );
  await waitUntil('the receiver', httpOk(`${receiverUrl}/readyz`));
  await waitUntil("the receiver's admin listener", httpOk(`${adminUrl}/healthz`));
  await waitUntil("the worker's metrics listener", httpOk(`${metricsUrl}/healthz`));

  const task = DEMO.tasks[0]!;
  const body = JSON.stringify({
    type: 'ticket.closed',
    occurredAt: '<now>',
    ticket: { id: 'ZD-4711' },
    ghl: { locationId: DEMO.locationId, contactId: DEMO.contactId, taskId: task.id },
    idempotencyKey: '<unique>',
  });
  const curlBody = body
    .replace('"<now>"', `"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"`)
    .replace('"<unique>"', `"'"demo-$(date +%s%N)"'"`);
  const dataDir = relative(ROOT, DATA_DIR) || DATA_DIR;
  process.stdout.write(
    [
      '',
      'closeloop is running.',
      '',
      `  receiver      ${receiverUrl}   (POST /webhooks/events, /webhooks/zendesk, /v1/task-updates, /healthz, /readyz)`,
      `  admin         ${adminUrl}/metrics   (the receiver's admin listener, loopback only)`,
      `  Bull Board    ${adminUrl}/admin/queues   user: admin   password: ${secrets.adminPassword}`,
      `  worker        ${metricsUrl}/metrics   (/healthz, /readyz)`,
      `  GHL sandbox   ${sandboxUrl}   (calls received: ${sandboxUrl}/__sandbox/calls)`,
      `  Redis         ${redisUrl}`,
      '',
      `  WEBHOOK_SECRET=${secrets.webhookSecret}`,
      `  INTERNAL_API_KEY=${secrets.internalApiKey}`,
      `  ZENDESK_WEBHOOK_SECRET=${secrets.zendeskSecret}   (the demo source in ${join(dataDir, 'sources.yaml')})`,
      `  GHL token (sandbox only)=${secrets.ghlToken}`,
      `  (kept in ${join(dataDir, 'dev-secrets.json')}; delete it for new ones)`,
      '',
      `Complete the demo task "${task.title}":`,
      '',
      `  curl -s -X POST ${receiverUrl}/v1/task-updates \\`,
      `    -H 'Authorization: Bearer ${secrets.internalApiKey}' -H 'Content-Type: application/json' \\`,
      `    -d '${curlBody}'`,
      '',
      'Then see it done:',
      '',
      `  curl -s ${sandboxUrl}/__sandbox/tasks/${task.id}`,
      '',
      `Send a signed webhook instead:  pnpm send-event --url ${receiverUrl} --task ${task.id}`,
      `Or as Zendesk would, with no GHL ids (the task is found by its title):`,
      `  pnpm send-event --url ${receiverUrl} --source zendesk --ticket ZD-4711`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  if (stopping) return;
  process.stderr.write(`[dev] ${error instanceof Error ? error.message : String(error)}\n`);
  void stopAll(1);
});
