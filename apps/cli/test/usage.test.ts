import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it, jest } from '@jest/globals';
import { findFreePort, uniquePrefix } from '@closeloop/test-support';
import { CONNECT_DEADLINE_MS } from '../src/redis.js';
import { cliEnv, runCli, startCli } from './cli-process.js';

const HELP = [
  {
    args: [],
    shows: ['dead', 'queue', 'enqueue', 'redis+cluster://host:port,host:port', 'Exit codes:', '130'],
  },
  { args: ['dead'], shows: ['list', 'show', 'replay', 'purge'] },
  {
    args: ['dead', 'list'],
    shows: ['--reason <reason>', '--location', '--since', '--until', '--limit', '--json'],
  },
  { args: ['dead', 'show'], shows: ['<id>', '--json'] },
  { args: ['dead', 'replay'], shows: ['[ids...]', '--reason', '--location', '--all', '--dry-run', '--json'] },
  {
    args: ['dead', 'purge'],
    shows: ['[ids...]', '--all', '--since', '--until', '--yes', '--dry-run', '--json'],
  },
  { args: ['queue'], shows: ['stats'] },
  { args: ['queue', 'stats'], shows: ['--json', '--max-scan'] },
  {
    args: ['enqueue'],
    shows: ['--type', '--contact', '--task', '--location', '--key', '--ticket', '--occurred-at', '--json'],
  },
];

/** Exits 2 after loading the queue library (its schema rejects the type), before it connects. */
const INVALID_ENQUEUE = ['enqueue', '--type', 'done', '--contact', 'c1', '--task', 't1'];

// Each case is a process start (tsx, commander and zod: about a second of CPU; apps/cli/README.md,
// "Start-up time"), several at once; on a busy machine they queue.
jest.setTimeout(30_000);

describe('closeloop usage', () => {
  it('When --help is asked of every command, then each prints its usage on stdout and exits 0 without Redis', async () => {
    // No Redis behind this URL: help must not need one.
    const env = cliEnv(uniquePrefix('help'), { REDIS_URL: `redis://127.0.0.1:${await findFreePort()}` });
    const runs = await Promise.all(HELP.map(({ args }) => runCli([...args, '--help'], env)));
    runs.forEach((run, index) => {
      const { args, shows } = HELP[index] ?? { args: [], shows: [] };
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      expect(run.stdout).toContain(`Usage: closeloop${args.length ? ` ${args.join(' ')}` : ''}`);
      for (const text of shows) expect(run.stdout).toContain(text);
    });
  });

  it('When a command line or the environment is wrong, then the command explains it on stderr and exits 2', async () => {
    const env = cliEnv(uniquePrefix('usage'));
    const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; says: string }> = [
      { args: ['dead', 'replay'], says: 'say which dead letters' },
      {
        args: ['dead', 'replay', 'events-a', '--reason', 'INVALID_JOB'],
        says: 'give ids, or filters / --all, not both',
      },
      {
        args: ['dead', 'replay', '--all', '--reason', 'INVALID_JOB'],
        says: "option '--all' cannot be used with option '--reason",
      },
      { args: ['dead', 'list', '--reason', 'NOPE'], says: 'Allowed choices are GHL_BAD_REQUEST' },
      { args: ['dead', 'list', '--limit', '0'], says: 'expected a whole number ≥ 1' },
      { args: ['dead', 'list', '--since', 'yesterday'], says: 'expected an ISO 8601 time' },
      { args: ['dead', 'nope'], says: "unknown command 'nope'" },
      { args: ['dead'], says: 'Usage: closeloop dead' },
      {
        args: ['enqueue', '--type', 'closed'],
        says: "required option '--contact <contactId>' not specified",
      },
      {
        args: ['dead', 'list'],
        env: { ...env, QUEUE_PREFIX: 'a:b', REDIS_URL: 'http://example.com' },
        says: 'invalid environment\n  - REDIS_URL: must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL\n  - QUEUE_PREFIX:',
      },
    ];
    const runs = await Promise.all(cases.map((c) => runCli(c.args, c.env ?? env)));
    runs.forEach((run, index) => {
      const { args, says } = cases[index] ?? { args: [], says: '' };
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toContain(says);
    });
  });

  it('When Redis is unreachable, then every command that needs it says so within a few seconds, exits 3 and never prints the password', async () => {
    const url = `redis://:s3cret-pass@127.0.0.1:${await findFreePort()}`;
    const env = cliEnv(uniquePrefix('down'), { REDIS_URL: url });
    const [baseline, ...runs] = await Promise.all([
      // The same process start without Redis: an invalid event loads everything a command that
      // talks to Redis loads (the queue library, bullmq), then exits 2 before connecting. What is left
      // is the wait for Redis.
      runCli(INVALID_ENQUEUE, env),
      runCli(['dead', 'list'], env),
      runCli(['queue', 'stats', '--json'], env),
      runCli(['enqueue', '--type', 'closed', '--contact', 'c1', '--task', 't1'], env),
    ]);
    expect(baseline?.code).toBe(2);
    for (const run of runs) {
      expect(run).toMatchObject({ code: 3, stdout: '' });
      expect(run.stderr).toContain('Redis at redis://:***@127.0.0.1:');
      expect(run.stderr).toContain('is unreachable (');
      expect(run.stderr).not.toContain('s3cret-pass');
      // A refused connection is known at once; the connect deadline (5 s) bounds it even on a busy
      // machine, plus the command's bounded exit.
      expect(run.ms - (baseline?.ms ?? 0)).toBeLessThan(CONNECT_DEADLINE_MS + 2_000);
    }
  });

  it('When Redis accepts the connection but never answers, then the command gives up at its connect deadline and exits 3', async () => {
    const mute = createServer(() => undefined);
    const sockets = new Set<Socket>();
    mute.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = mute.address() as AddressInfo;
      const env = cliEnv(uniquePrefix('mute'), { REDIS_URL: `redis://127.0.0.1:${port}` });
      const [baseline, run] = await Promise.all([
        runCli(INVALID_ENQUEUE, env),
        runCli(['dead', 'list'], env),
      ]);
      expect(baseline?.code).toBe(2);
      expect(run).toMatchObject({ code: 3, stdout: '' });
      expect(run.stderr).toContain(`is unreachable (no answer within ${CONNECT_DEADLINE_MS / 1_000} s)`);
      expect(run.ms - (baseline?.ms ?? 0)).toBeGreaterThanOrEqual(CONNECT_DEADLINE_MS - 1_000);
      expect(run.ms - (baseline?.ms ?? 0)).toBeLessThan(CONNECT_DEADLINE_MS + 3_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });

  it('When run as `pnpm closeloop`, the workspace bin answers like the direct command', async () => {
    const started = startCli(['queue', 'stats', '--json'], cliEnv(uniquePrefix('pnpm')), {
      command: 'pnpm',
      commandArgs: ['closeloop'],
    });
    const run = await started.exited;
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      'task-updates': { counts: { waiting: 0 }, oldestWaitingAgeMs: null },
      'task-updates-dead': { counts: { waiting: 0 } },
    });
  });
});
