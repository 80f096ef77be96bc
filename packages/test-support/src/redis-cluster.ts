import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort, launchRedisServer } from './redis-server.js';

/** A local Redis Cluster of `redis-server` child processes on 127.0.0.1, every slot served. */
export interface LocalRedisCluster {
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…`, the form REDIS_URL takes (docs/redis-cluster.md). */
  readonly url: string;
  readonly ports: readonly number[];
  /** Stops every node (SIGTERM, waits for the exits) and removes the folder. Safe to call twice. */
  dispose(): Promise<void>;
}

/** `redis-cli` is what makes the nodes one cluster (`--cluster create`). */
export function hasRedisCliBinary(): boolean {
  return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

function launchNode(port: number, dir: string): Promise<ChildProcess> {
  return launchRedisServer(port, dir, [
    '--cluster-enabled',
    'yes',
    // Each node writes its own view of the cluster here; one folder, one file per port.
    '--cluster-config-file',
    `nodes-${port}.conf`,
    '--cluster-node-timeout',
    '2000',
  ]);
}

function redisCli(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Starts `nodes` (default 3) cluster-enabled `redis-server`s on free ports in one fresh temp folder,
 * joins them with `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes` (masters only,
 * the slots split between them), and resolves once every node reports `cluster_state:ok` and
 * `cluster_slots_ok:16384`: only then does every key have a node to go to. On any failure the nodes
 * already started are stopped and the folder removed.
 */
export async function startRedisCluster(
  options: { nodes?: number; readyTimeoutMs?: number } = {},
): Promise<LocalRedisCluster> {
  const count = options.nodes ?? 3;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-redis-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await Promise.all(children.map(stopNode));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // One at a time: findFreePort releases the port it found, so two lookups could return the same one.
    for (let index = 0; index < count; index += 1) {
      const port = await findFreePort();
      children.push(await launchNode(port, dir));
      ports.push(port);
    }
    const created = await redisCli([
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    if (created.code !== 0) {
      throw new Error(`redis-cli --cluster create failed (${created.code}): ${created.output.slice(-800)}`);
    }
    // The nodes learn about one another over the cluster bus (gossip): poll until all agree.
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const states = await Promise.all(
        ports.map((port) => redisCli(['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'])),
      );
      const ready = states.every(
        (state) =>
          state.output.includes('cluster_state:ok') && state.output.includes('cluster_slots_ok:16384'),
      );
      if (ready) break;
      if (Date.now() > deadline) {
        throw new Error(`the Redis Cluster did not reach cluster_state:ok within ${readyTimeoutMs} ms`);
      }
      // Polling: redis-cli has no way to wait for the cluster state.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await dispose();
    throw error;
  }

  return {
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    ports,
    dispose,
  };
}
