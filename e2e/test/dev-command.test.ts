/**
 * `pnpm dev` as a new user runs it: the real `pnpm dev` (pnpm → tsx → scripts/dev.ts), as the leader
 * of its own process group like a terminal's foreground job, on its own data folder
 * (CLOSELOOP_DEV_DIR). Ctrl-C is SIGINT to the whole group, as the terminal sends it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { findFreePort, waitFor } from '@closeloop/test-support';
import { findProcessesOf, isAlive, readRedisPid, startDev, type DevRun } from './support/dev-command.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RUNNING = 'closeloop is running';

function waitUntilRunning(dev: DevRun): Promise<void> {
  return dev.printed(RUNNING, 60_000);
}

async function waitUntilNothingLeft(dataDir: string, timeoutMs: number): Promise<void> {
  await waitFor(() => findProcessesOf(dataDir).length === 0, {
    timeoutMs,
    intervalMs: 100,
    description: 'every process of this pnpm dev to be gone',
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; left: ${JSON.stringify(findProcessesOf(dataDir))}`);
  });
}

describe('pnpm dev', () => {
  let dataDir: string;
  beforeAll(() => {
    // realpath: what /proc shows as a process's working directory.
    dataDir = realpathSync(mkdtempSync(join(tmpdir(), 'closeloop-dev-')));
  });
  afterAll(() => {
    for (const left of findProcessesOf(dataDir)) process.kill(left.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('When Ctrl-C reaches its process group, then every process it started stops, Redis included, three times in a row', async () => {
    for (let stop = 1; stop <= 3; stop += 1) {
      const dev = startDev(ROOT, dataDir);
      await waitUntilRunning(dev);
      const redisPid = readRedisPid(dataDir);
      expect(redisPid !== undefined && isAlive(redisPid)).toBe(true);
      if (stop === 1) {
        const output = dev.output();
        expect(output).toMatch(/Bull Board\s+http:\/\/127\.0\.0\.1:\d+\/admin\/queues/);
        expect(output).toMatch(/admin\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
        expect(output).toMatch(/worker\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
        // LOG_FORMAT=pretty: people read these lines, not machines.
        expect(output).toMatch(/\[worker\] .*INFO.*worker started/);
        expect(output).not.toMatch(/\[worker\] \{"level"/);

        // The demo Zendesk source: a delivery with no GHL ids completes the demo task by matching alone.
        const receiverUrl = /receiver\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
        const sandboxUrl = /GHL sandbox\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
        const sent = spawnSync(
          'pnpm',
          ['--silent', 'send-event', '--url', receiverUrl, '--source', 'zendesk', '--ticket', 'ZD-4711'],
          { cwd: ROOT, env: { ...process.env, CLOSELOOP_DEV_DIR: dataDir }, encoding: 'utf8' },
        );
        expect(sent.stdout).toMatch(/^202 \{"jobId":"zendesk-/m);
        await waitFor(
          async () => {
            const task = (await (
              await fetch(`${sandboxUrl}/__sandbox/tasks/ocQHyuzHvysMo5N5VsXc`)
            ).json()) as {
              completed?: boolean;
            };
            return task.completed === true;
          },
          { description: 'the demo task to be completed by matching' },
        );
      }

      process.kill(-dev.pid, 'SIGINT');
      await dev.exited;
      await waitUntilNothingLeft(dataDir, 20_000);
      expect(isAlive(redisPid ?? -1)).toBe(false);
    }
  }, 180_000);

  it('When a second pnpm dev starts on the same data folder, then it refuses, naming the running Redis, and never opens the folder a second time', async () => {
    const first = startDev(ROOT, dataDir);
    await waitUntilRunning(first);
    const redisPid = readRedisPid(dataDir) ?? -1;

    const second = startDev(ROOT, dataDir);
    // Whichever comes first: the second one exits, or it starts (the defect: a second Redis).
    const outcome = await Promise.race([
      second.exited.then(() => 'exited'),
      second.printed(RUNNING, 60_000).then(
        () => 'started',
        () => 'exited',
      ),
    ]);
    expect(outcome).toBe('exited');
    expect((await second.exited).code).not.toBe(0);
    expect(second.output()).toContain(`redis-server pid ${redisPid}`);
    expect(second.output()).not.toContain(RUNNING);
    const redisServers = findProcessesOf(dataDir).filter((left) => left.cmdline.startsWith('redis-server'));
    expect(redisServers.map((left) => left.pid)).toEqual([redisPid]);

    process.kill(-first.pid, 'SIGINT');
    await first.exited;
    await waitUntilNothingLeft(dataDir, 20_000);
  }, 120_000);

  it('When a redis-server an earlier run left behind still serves the data folder, then pnpm dev reuses it instead of opening the folder again, and stops it on Ctrl-C', async () => {
    const redisDir = join(dataDir, 'redis');
    mkdirSync(redisDir, { recursive: true });
    const port = await findFreePort();
    const leftOver = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        redisDir,
        '--save',
        '',
        '--pidfile',
        join(redisDir, 'redis-server.pid'),
      ],
      { stdio: 'ignore' },
    );
    const leftOverExited = once(leftOver, 'exit');
    writeFileSync(join(redisDir, 'redis-server.port'), String(port));
    await waitFor(() => readRedisPid(dataDir) === leftOver.pid, { description: "redis-server's pidfile" });

    const dev = startDev(ROOT, dataDir);
    await waitUntilRunning(dev);
    expect(dev.output()).toContain(`reusing redis-server pid ${leftOver.pid} on port ${port}`);
    expect(dev.output()).toContain(`Redis         redis://127.0.0.1:${port}`);
    const redisServers = findProcessesOf(dataDir).filter((left) => left.cmdline.startsWith('redis-server'));
    expect(redisServers.map((left) => left.pid)).toEqual([leftOver.pid]);

    process.kill(-dev.pid, 'SIGINT');
    await dev.exited;
    await leftOverExited;
    await waitUntilNothingLeft(dataDir, 20_000);
  }, 120_000);

  it('When the dev process itself is killed with SIGKILL, then Redis and everything else it started still stop within seconds', async () => {
    const dev = startDev(ROOT, dataDir);
    await waitUntilRunning(dev);
    const redisPid = readRedisPid(dataDir) ?? -1;
    const { pid: devPid } = JSON.parse(readFileSync(join(dataDir, 'dev.lock'), 'utf8')) as { pid: number };

    process.kill(devPid, 'SIGKILL');
    await dev.exited;
    await waitUntilNothingLeft(dataDir, 15_000);
    expect(isAlive(redisPid)).toBe(false);
  }, 120_000);
});
