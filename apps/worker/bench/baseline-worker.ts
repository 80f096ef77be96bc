/**
 * The baseline of worker-bench.ts and e2e/bench/e2e-bench.ts: the least a BullMQ worker can do for
 * a task-update job, a plain `new Worker(queue, async (job) => got.put(…))` at the same concurrency,
 * in a process of its own as the real worker is. No budget, no ordering guard, no failure policy,
 * no metrics: what is left is BullMQ's own cost, got's and the machine's.
 *
 *   tsx apps/worker/bench/baseline-worker.ts '{"redisUrl":"…","prefix":"…","ghlBaseUrl":"…","concurrency":50,"tokens":{"loc":"pit-…"}}'
 *
 * Prints `baseline worker started` once its worker runs; SIGTERM closes it (jobs in flight finish).
 */
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { TASK_UPDATES_QUEUE } from '@closeloop/queue';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

interface BaselineOptions {
  redisUrl: string;
  prefix: string;
  ghlBaseUrl: string;
  concurrency: number;
  tokens: Record<string, string>;
}

interface Got {
  put(url: string, options: Record<string, unknown>): Promise<{ statusCode: number }>;
}

const options = JSON.parse(process.argv[2] ?? '{}') as BaselineOptions;
// got is a dependency of packages/ghl, not of the worker: load the very copy the GHL client uses.
const gotPath = createRequire(new URL('../../../packages/ghl/package.json', import.meta.url)).resolve('got');
const { got } = (await import(pathToFileURL(gotPath).href)) as { got: Got };
const agent = new Agent({ keepAlive: true });

const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
// The benchmarks' jobs all name their task (no matching).
type BenchJob = { event: { ghl: { locationId: string; contactId: string; taskId: string } } };
const worker = new Worker<BenchJob>(
  TASK_UPDATES_QUEUE,
  async (job) => {
    const { locationId, contactId, taskId } = job.data.event.ghl;
    const response = await got.put(`${options.ghlBaseUrl}/contacts/${contactId}/tasks/${taskId}/completed`, {
      json: { completed: true },
      headers: { authorization: `Bearer ${options.tokens[locationId] ?? ''}`, version: '2021-07-28' },
      agent: { http: agent },
      retry: { limit: 0 },
      throwHttpErrors: false,
    });
    if (response.statusCode !== 200) throw new Error(`GHL answered ${response.statusCode}`);
  },
  { connection, prefix: options.prefix, concurrency: options.concurrency },
);
worker.on('error', (error) => process.stderr.write(`baseline worker: ${error.message}\n`));
await worker.waitUntilReady();
process.stdout.write('baseline worker started\n');

process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .finally(() => process.exit(0));
});
