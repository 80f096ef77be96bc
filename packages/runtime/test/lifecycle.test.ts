import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/process.ts', import.meta.url));

interface LogLine {
  level: number;
  msg: string;
  err?: { message: string };
  [key: string]: unknown;
}

interface Fixture {
  child: ChildProcess;
  lines(): LogLine[];
  /** Resolves with the first line whose msg is `msg` (event-driven, no polling). */
  waitForLine(msg: string): Promise<LogLine>;
  exited: Promise<{ code: number | null; ms: number }>;
}

function startFixture(env: Record<string, string>): Fixture {
  const child = spawn(TSX, [FIXTURE], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const check of waiters) check();
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = (): LogLine[] =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const startedAt = performance.now();
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, ms: performance.now() - startedAt })),
  );
  const waitForLine = (msg: string): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines().find((candidate) => candidate.msg === msg);
        if (!line) return;
        waiters.delete(check);
        resolve(line);
      };
      waiters.add(check);
      void exited.then(() => {
        check();
        if (waiters.has(check))
          reject(new Error(`exited without "${msg}"; stdout:\n${stdout}\nstderr:\n${stderr}`));
      });
      check();
    });
  return { child, lines, waitForLine, exited };
}

const messages = (fixture: Fixture): string[] => fixture.lines().map((line) => line.msg);

describe('run', () => {
  it('When SIGTERM arrives, then it closes what start opened and exits 0', async () => {
    const fixture = startFixture({});
    await fixture.waitForLine('started');

    fixture.child.kill('SIGTERM');

    expect((await fixture.exited).code).toBe(0);
    // In the order they were logged: stdout is written synchronously (logger.ts), so nothing logged
    // before the exit is reordered or left behind.
    expect(messages(fixture)).toEqual(['starting', 'started', 'shutting down', 'closing', 'closed']);
    expect(fixture.lines().find((line) => line.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
  });

  it('When SIGINT arrives, then it closes the same way and exits 0', async () => {
    const fixture = startFixture({});
    await fixture.waitForLine('started');

    fixture.child.kill('SIGINT');

    expect((await fixture.exited).code).toBe(0);
    expect(messages(fixture)).toContain('closed');
  });

  it('When a second SIGTERM arrives during a close, then it exits 1 at once with a log line', async () => {
    const fixture = startFixture({ FIXTURE_CLOSE: 'hang', FIXTURE_SHUTDOWN_TIMEOUT_MS: '60000' });
    await fixture.waitForLine('started');
    fixture.child.kill('SIGTERM');
    await fixture.waitForLine('closing');

    fixture.child.kill('SIGTERM');

    const { code, ms } = await fixture.exited;
    expect(code).toBe(1);
    expect(ms).toBeLessThan(30_000);
    expect(messages(fixture)).toContain('second signal: exiting now');
    expect(messages(fixture)).not.toContain('shutdown timed out');
  });

  it('When close never settles, then the process exits 1 once the shutdown bound has passed', async () => {
    const fixture = startFixture({ FIXTURE_CLOSE: 'hang', FIXTURE_SHUTDOWN_TIMEOUT_MS: '300' });
    await fixture.waitForLine('started');
    const signalledAt = performance.now();

    fixture.child.kill('SIGTERM');

    const { code } = await fixture.exited;
    expect(code).toBe(1);
    expect(performance.now() - signalledAt).toBeGreaterThanOrEqual(300);
    expect(performance.now() - signalledAt).toBeLessThan(10_000);
    expect(await fixture.waitForLine('shutdown timed out')).toMatchObject({ level: 50, timeoutMs: 300 });
  });

  it('When close rejects, then the failure is logged and the process exits 1', async () => {
    const fixture = startFixture({ FIXTURE_CLOSE: 'fail' });
    await fixture.waitForLine('started');

    fixture.child.kill('SIGTERM');

    expect((await fixture.exited).code).toBe(1);
    expect((await fixture.waitForLine('shutdown failed')).err?.message).toBe('close broke');
  });

  it('When start fails, then a fatal line names the process and it exits 1', async () => {
    const fixture = startFixture({ FIXTURE_START: 'fail' });

    expect((await fixture.exited).code).toBe(1);
    const fatal = await fixture.waitForLine('fixture failed to start');
    expect(fatal).toMatchObject({ level: 60, err: { message: 'cannot open the thing' } });
  });

  it('When a signal arrives while start is still running, then it closes right after start resolves and exits 0', async () => {
    const fixture = startFixture({ FIXTURE_START: 'stdin' });
    await fixture.waitForLine('starting');
    fixture.child.kill('SIGTERM');
    await fixture.waitForLine('shutting down');

    fixture.child.stdin?.end('go\n');

    expect((await fixture.exited).code).toBe(0);
    expect(messages(fixture)).toEqual(['starting', 'shutting down', 'started', 'closing', 'closed']);
  });

  it('When a promise rejection goes unhandled, then it logs fatal, closes, and exits 1', async () => {
    const fixture = startFixture({ FIXTURE_AFTER_START: 'reject' });

    expect((await fixture.exited).code).toBe(1);
    const fatal = await fixture.waitForLine('unhandled rejection');
    expect(fatal).toMatchObject({ level: 60, err: { message: 'nobody caught this' } });
    expect(messages(fixture).slice(-2)).toEqual(['closing', 'closed']);
  });

  it('When an exception goes uncaught, then it logs fatal, closes, and exits 1', async () => {
    const fixture = startFixture({ FIXTURE_AFTER_START: 'throw' });

    expect((await fixture.exited).code).toBe(1);
    const fatal = await fixture.waitForLine('uncaught exception');
    expect(fatal).toMatchObject({ level: 60, err: { message: 'thrown from a callback' } });
    expect(messages(fixture)).toContain('closed');
  });
});
