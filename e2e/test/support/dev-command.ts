import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** `pnpm dev` started the way a terminal starts it: the leader of its own process group. */
export interface DevRun {
  /** pnpm's pid, which is also the process group's id: `process.kill(-pid, 'SIGINT')` is Ctrl-C. */
  readonly pid: number;
  output(): string;
  /** Resolves once `text` has been printed; rejects if pnpm dev exits or `timeoutMs` passes first. */
  printed(text: string, timeoutMs: number): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDev(root: string, dataDir: string): DevRun {
  const env: Record<string, string | undefined> = { ...process.env, CLOSELOOP_DEV_DIR: dataDir };
  // A new user's shell: not this test runner's Redis (pnpm dev would use it), nor its node flags.
  for (const name of ['REDIS_URL', 'NODE_OPTIONS', 'QUEUE_PREFIX', 'PORT', 'SANDBOX_PORT', 'LOG_LEVEL']) {
    delete env[name];
  }
  const child = spawn('pnpm', ['dev'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const output = (): string => chunks.join('');
  const printed = (text: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        reject(new Error(`pnpm dev ${why} before printing "${text}"; it printed:\n${output()}`));
      };
      const onData = (): void => {
        if (!output().includes(text)) return;
        cleanup();
        resolve();
      };
      const onExit = (): void => fail('exited');
      const timer = setTimeout(() => fail(`took over ${timeoutMs} ms`), timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
      };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
      onData();
    });
  return { pid: child.pid ?? -1, output, printed, exited };
}

export interface LeftProcess {
  pid: number;
  cmdline: string;
}

/**
 * Every live process (zombies excluded) that belongs to the `pnpm dev` of `dataDir`: its environment
 * carries CLOSELOOP_DEV_DIR=dataDir (every process pnpm dev starts inherits it), its command line
 * names the folder, or it works in it (redis-server rewrites its command line, but runs in its
 * `--dir`).
 */
export function findProcessesOf(dataDir: string): LeftProcess[] {
  const found: LeftProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (
        environ.includes(`CLOSELOOP_DEV_DIR=${dataDir}`) ||
        cmdline.includes(dataDir) ||
        cwd === dataDir ||
        cwd.startsWith(`${dataDir}/`)
      ) {
        found.push({ pid, cmdline });
      }
    } catch {
      // The process exited while we looked, or is not ours to read.
    }
  }
  return found;
}

/** The pid redis-server wrote into its pidfile in the data folder (see scripts/dev.ts). */
export function readRedisPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(join(dataDir, 'redis', 'redis-server.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** True while `pid` is a live process (not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
