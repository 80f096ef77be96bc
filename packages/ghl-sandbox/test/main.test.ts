import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { SandboxControl } from '../src/index.js';
import { C1, DEMO_SEED, T1, callGhl } from './helpers.js';

const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ghl-sandbox-main-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function runMain(env: Record<string, string>): Child {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(PORT|HOST|SANDBOX_)/.test(name)),
  );
  const child = spawn(TSX, [MAIN], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

function listeningUrl(child: Child): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const match = /listening on (http:\/\/[^\s"]+)/.exec(child.stdout());
      if (match?.[1]) {
        child.process.stdout?.off('data', onData);
        resolve(match[1]);
      }
    };
    child.process.stdout?.on('data', onData);
    void child.exited.then((code) => reject(new Error(`exited ${code}: ${child.stderr()}`)));
  });
}

describe('pnpm start:sandbox (src/main.ts)', () => {
  it('When the environment is invalid, then every problem is printed and the process exits 1', async () => {
    const child = runMain({
      PORT: 'eighty',
      SANDBOX_BURST_LIMIT: '0',
      SANDBOX_SEED_FILE: join(dir, 'missing.json'),
    });

    expect(await child.exited).toBe(1);
    expect(child.stderr()).toMatch(/^ghl-sandbox: invalid configuration\n {2}- /);
    expect(child.stderr()).toContain('PORT');
    expect(child.stderr()).toContain('SANDBOX_BURST_LIMIT');
    expect(child.stderr()).toContain('SANDBOX_SEED_FILE');
  });

  it('When started with a seed file, then it serves the seeded data on the printed URL and SIGTERM ends it with exit 0', async () => {
    const seedFile = join(dir, 'seed.json');
    writeFileSync(seedFile, JSON.stringify(DEMO_SEED));
    const child = runMain({ PORT: '0', SANDBOX_SEED_FILE: seedFile, SANDBOX_BURST_LIMIT: '7' });
    try {
      const url = await listeningUrl(child);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      expect(await new SandboxControl(url).getTask(T1)).toMatchObject({ id: T1, completed: false });
      const response = await callGhl(url, { method: 'GET', path: `/contacts/${C1}/tasks/${T1}` });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-max')).toBe('7');
    } finally {
      child.process.kill('SIGTERM');
    }
    expect(await child.exited).toBe(0);
    expect(child.stdout()).not.toContain('pit-');
  });
});
