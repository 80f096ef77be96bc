import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A `redis-server` child process on 127.0.0.1, data in its own temp folder. */
export interface LocalRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM, waits for exit), keeping its folder: an outage. Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop()`, the end of the outage). */
  restart(): Promise<void>;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `redis-server` on 127.0.0.1:`port` with its data in `dir`; resolves once it accepts connections. */
export function launchRedisServer(
  port: number,
  dir: string,
  args: readonly string[] = [],
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // redis-server reads its arguments like config lines, the last one winning: `args` can override
    // the defaults (e.g. `--appendonly yes`) but not the port, the address or the folder, set after.
    const child = spawn(
      'redis-server',
      [
        '--save',
        '',
        '--appendonly',
        'no',
        ...args,
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)),
    );
  });
}

export interface StartRedisServerOptions {
  /** Default: a free port. `restart()` always comes back on the same one. */
  port?: number;
  /**
   * Extra `redis-server` arguments, after the defaults (no RDB snapshots, no AOF) so they win, e.g.
   * `['--appendonly', 'yes', '--appendfsync', 'everysec']`: `stop()` is a SIGTERM, on which Redis
   * flushes the AOF, and `restart()` loads it again from the same folder.
   */
  args?: readonly string[];
}

/** Starts `redis-server` on a free port (or the given one) in a fresh temp folder. */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<LocalRedis> {
  const port = options.port ?? (await findFreePort());
  const args = options.args ?? [];
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-redis-'));
  let child: ChildProcess | undefined = await launchRedisServer(port, dir, args);

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      child = await launchRedisServer(port, dir, args);
    },
  };
}
