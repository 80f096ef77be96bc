/**
 * `pnpm dev`: the whole system on one machine (docs/contracts.md, "Commands") — Redis, the GHL sandbox seeded with a
 * demo location, contact and open tasks, the receiver and the worker — then prints the URLs, the
 * generated secrets and a ready-to-paste request. Ctrl-C stops everything it started.
 *
 * Each part runs as its own process through the same entry points as production
 * (`pnpm start:*`), configured only by environment, so `pnpm dev` exercises what ships.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const DATA_DIR = join(ROOT, '.data');
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
}

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function log(message: string): void {
  process.stdout.write(`[dev] ${message}\n`);
}

/** Secrets are generated once and kept in .data/ so a restart keeps the same credentials. */
function loadOrCreateSecrets(): DevSecrets {
  const file = join(DATA_DIR, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  const secrets: DevSecrets = {
    webhookSecret: `whsec_${randomBytes(32).toString('base64')}`,
    internalApiKey: randomBytes(24).toString('base64url'),
    adminPassword: randomBytes(12).toString('base64url'),
    ghlToken: `pit-dev-${randomBytes(16).toString('hex')}`,
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

async function pickPort(preferred: number): Promise<number> {
  if (await isPortFree(preferred)) return preferred;
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function start(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  options: { ownProcessGroup?: boolean } = {},
): ChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup ?? false,
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
  child.once('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping everything`);
      void stopAll(1);
    }
  });
  children.push({ name, child });
  return child;
}

async function waitUntil(
  description: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
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
    log(`using REDIS_URL from the environment`);
    return process.env.REDIS_URL;
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write(
      [
        '[dev] closeloop needs Redis and found none. Either:',
        '  - set REDIS_URL=redis://host:port to use a running Redis, or',
        '  - install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or',
        '  - run `docker compose up redis` and set REDIS_URL=redis://127.0.0.1:6379',
        '',
      ].join('\n'),
    );
    process.exit(1);
  }
  const port = await pickPort(6379);
  const dir = join(DATA_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  // The production settings of docs/bullmq.md §5: AOF on, noeviction (BullMQ loses jobs under eviction).
  start(
    'redis',
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
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
    // Its own process group: Ctrl-C reaches the terminal's group at once, and Redis must outlive the
    // worker and receiver while they drain; stopAll stops it last.
    { ownProcessGroup: true },
  );
  const url = `redis://127.0.0.1:${port}`;
  await waitUntil('redis-server', async () => {
    const probe = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (probe.error) return isPortFree(port).then((free) => !free);
    return probe.stdout.trim() === 'PONG';
  });
  log(`redis-server on ${url} (data in .data/redis)`);
  return url;
}

async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Stop in reverse order: worker and receiver drain before Redis goes away.
  for (const { child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    await new Promise<void>((resolveExit) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolveExit();
      });
      child.kill('SIGTERM');
    });
  }
  process.exit(exitCode);
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  const secrets = loadOrCreateSecrets();
  const redisUrl = await startRedis();
  const sandboxPort = await pickPort(Number(process.env.SANDBOX_PORT ?? 4010));
  const receiverPort = await pickPort(Number(process.env.PORT ?? 3000));
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;

  const seedFile = join(DATA_DIR, 'sandbox-seed.json');
  writeFileSync(
    seedFile,
    JSON.stringify({
      locations: [{ id: DEMO.locationId, tokens: [secrets.ghlToken] }],
      contacts: [{ id: DEMO.contactId, locationId: DEMO.locationId, email: DEMO.email, firstName: 'Jordan' }],
      tasks: DEMO.tasks.map((t) => ({ ...t, contactId: DEMO.contactId, completed: false })),
    }),
  );

  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  start('sandbox', tsx, ['packages/ghl-sandbox/src/main.ts'], {
    PORT: String(sandboxPort),
    SANDBOX_SEED_FILE: seedFile,
  });
  await waitUntil('the GHL sandbox', httpOk(`${sandboxUrl}/__sandbox/health`));

  const shared = {
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: process.env.QUEUE_PREFIX ?? 'closeloop',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  start('receiver', tsx, ['apps/receiver/src/main.ts'], {
    ...shared,
    PORT: String(receiverPort),
    HOST: '127.0.0.1',
    WEBHOOK_SECRET: secrets.webhookSecret,
    INTERNAL_API_KEY: secrets.internalApiKey,
    ADMIN_USER: 'admin',
    ADMIN_PASSWORD: secrets.adminPassword,
  });
  start('worker', tsx, ['apps/worker/src/main.ts'], {
    ...shared,
    GHL_BASE_URL: sandboxUrl,
    GHL_TOKEN: secrets.ghlToken,
    GHL_LOCATION_ID: DEMO.locationId,
  });
  await waitUntil('the receiver', httpOk(`${receiverUrl}/readyz`));

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
  process.stdout.write(
    [
      '',
      'closeloop is running.',
      '',
      `  receiver      ${receiverUrl}   (POST /webhooks/events, POST /v1/task-updates, /healthz, /readyz, /metrics)`,
      `  Bull Board    ${receiverUrl}/admin/queues   user: admin   password: ${secrets.adminPassword}`,
      `  GHL sandbox   ${sandboxUrl}   (calls received: ${sandboxUrl}/__sandbox/calls)`,
      `  Redis         ${redisUrl}`,
      '',
      `  WEBHOOK_SECRET=${secrets.webhookSecret}`,
      `  INTERNAL_API_KEY=${secrets.internalApiKey}`,
      `  GHL token (sandbox only)=${secrets.ghlToken}`,
      '  (kept in .data/dev-secrets.json; delete it for new ones)',
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
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`[dev] ${error instanceof Error ? error.message : String(error)}\n`);
  void stopAll(1);
});
