import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { findFreePort, startRedisServer, type LocalRedis } from '@closeloop/test-support';
import { API_KEY, createWebhookSecret } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;

interface MainProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when stdout+stderr match `pattern` (event-driven, no polling). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<{ code: number | null; ms: number }>;
}

/** `pnpm start:receiver` as production runs it: a process configured only by its environment. */
function startMain(env: Record<string, string>): MainProcess {
  const child = spawn(TSX, ['apps/receiver/src/main.ts'], {
    cwd: ROOT,
    // Only what is given: nothing from the test run (REDIS_URL, NODE_OPTIONS) leaks in.
    // ADMIN_PORT 0: the admin listener's default 3001 may be taken (pnpm dev, another test file).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ADMIN_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let signalledAt = 0;
  const originalKill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    signalledAt = performance.now();
    return originalKill(signal);
  };
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, ms: signalledAt ? performance.now() - signalledAt : 0 })),
  );
  return {
    child,
    output: () => text,
    exited,
    waitForOutput: (pattern, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`No output matching ${String(pattern)} within ${timeoutMs} ms; got:\n${text}`));
        }, timeoutMs);
        const check = (): void => {
          if (!pattern.test(text)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
  };
}

describe('main.ts (pnpm start:receiver)', () => {
  let redis: LocalRedis;
  const running: MainProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    for (const main of running) {
      if (main.child.exitCode === null && main.child.signalCode === null) {
        main.child.kill('SIGKILL');
        await main.exited;
      }
    }
    await redis.dispose();
  });

  const start = (env: Record<string, string>): MainProcess => {
    const main = startMain(env);
    running.push(main);
    return main;
  };

  it('When the configuration is invalid, then it prints every problem, repeats no secret, and exits 1', async () => {
    const main = start({
      REDIS_URL: 'http://user:hunter2-redis-password@localhost',
      PORT: 'eighty',
      WEBHOOK_SECRET: 'not-a-whsec-secret-value',
      ADMIN_USER: 'admin',
    });
    const { code } = await main.exited;
    expect(code).toBe(1);
    const output = main.output();
    for (const name of ['REDIS_URL', 'PORT', 'WEBHOOK_SECRET', 'ADMIN_USER and ADMIN_PASSWORD']) {
      expect(output).toContain(name);
    }
    expect(output).not.toContain('hunter2-redis-password');
    expect(output).not.toContain('not-a-whsec-secret-value');
  });

  it('When SIGTERM arrives, then it stops accepting, closes, and exits 0', async () => {
    const port = await findFreePort();
    const main = start({
      REDIS_URL: redis.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      WEBHOOK_SECRET: createWebhookSecret(),
      INTERNAL_API_KEY: API_KEY,
    });
    await main.waitForOutput(/receiver listening/);
    // It listens before Redis answers; this line says it has.
    await main.waitForOutput(/Redis connected/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    main.child.kill('SIGTERM');
    const { code } = await main.exited;

    expect(code).toBe(0);
    expect(main.output()).toContain('receiver closed');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('When SIGTERM arrives while Redis is down, then it still exits 0 promptly', async () => {
    const own = await startRedisServer();
    try {
      const main = start({ REDIS_URL: own.url, PORT: '0', HOST: '127.0.0.1', INTERNAL_API_KEY: API_KEY });
      await main.waitForOutput(/receiver listening/);
      await main.waitForOutput(/Redis connected/);
      await own.stop();
      await main.waitForOutput(/Redis connection lost/);

      main.child.kill('SIGTERM');
      const { code, ms } = await main.exited;

      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
    } finally {
      await own.dispose();
    }
  });

  it('When Redis is unreachable at start, then it listens, says it is waiting, and SIGTERM still exits 0', async () => {
    const nobody = await findFreePort();
    const main = start({
      REDIS_URL: `redis://127.0.0.1:${nobody}`,
      PORT: '0',
      HOST: '127.0.0.1',
      INTERNAL_API_KEY: API_KEY,
    });
    await main.waitForOutput(/receiver listening/);
    await main.waitForOutput(/waiting for Redis/);

    main.child.kill('SIGTERM');
    const { code, ms } = await main.exited;

    expect(code).toBe(0);
    expect(ms).toBeLessThan(5_000);
  });
});
