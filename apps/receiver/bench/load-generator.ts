/**
 * The load side of receiver-bench.ts, run as its own process so that signing and sending do not
 * share an event loop with the servers under test (autocannon's worker mode would need the
 * per-request signing as a CommonJS file path; a child process keeps it TypeScript).
 *
 *   tsx apps/receiver/bench/load-generator.ts '{"url":"…","seconds":10,"connections":50,"secret":"whsec_…"}'
 *
 * Every request carries a fresh webhook-id and its own Standard Webhooks signature (made with the
 * `standardwebhooks` library, as a sender would), so none is a duplicate. Prints autocannon's result
 * as one JSON line.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { EXAMPLE_TASK_EVENT } from '@closeloop/queue';
import { Webhook } from 'standardwebhooks';

interface LoadOptions {
  url: string;
  seconds: number;
  connections: number;
  secret: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const webhook = new Webhook(options.secret);
const body = JSON.stringify(EXAMPLE_TASK_EVENT);
const run = randomUUID().slice(0, 8);
let sequence = 0;

const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.seconds,
  requests: [
    {
      method: 'POST',
      path: '/webhooks/events',
      setupRequest: (request) => {
        const id = `msg_bench_${run}_${sequence++}`;
        const now = new Date();
        return {
          ...request,
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': webhook.sign(id, now, body),
          },
          body,
        };
      },
    },
  ],
});
process.stdout.write(`${JSON.stringify(result)}\n`);
