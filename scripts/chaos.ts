/**
 * `pnpm chaos [--events 10000] […]`: the chaos run of e2e/test/chaos.test.ts, long (issue 9). Two
 * receivers and several workers as their own processes, one AOF Redis of their own, the GHL sandbox
 * injecting faults; two workers SIGKILLed and Redis restarted along the way (e2e/test/support/chaos.ts
 * says exactly what happens). Everything binds 127.0.0.1 and the run is bounded by `--timeout`.
 * It prints the counts and exits 1 when anything accepted was lost, left in the wrong state or
 * dead-lettered twice; 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { hasRedisServerBinary } from '@closeloop/test-support';
import { formatReport, problemsOf, runChaos } from '../e2e/test/support/chaos.js';

const USAGE = `usage: pnpm chaos [--events N] [--workers N] [--receivers N] [--locations N] [--rate N]
                  [--duplicates RATIO] [--timeout SECONDS] [--seed N]

  --events      distinct events to send (default 10000); re-sends come on top
  --workers     worker processes, at least 2 (default 3)
  --receivers   receiver processes (default 2)
  --locations   GHL locations in the sandbox (default 4)
  --rate        events sent per second (default 100)
  --duplicates  share of events re-sent with the same webhook-id (default 0.15)
  --timeout     the whole run's bound in seconds (default: the sending time, plus 5 minutes
                or a second per 20 events if longer)
  --seed        the plan's seed, to send the same events again (default random)
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      events: { type: 'string' },
      workers: { type: 'string' },
      receivers: { type: 'string' },
      locations: { type: 'string' },
      rate: { type: 'string' },
      duplicates: { type: 'string' },
      timeout: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    // `pnpm chaos -- --events 10` passes the `--` on.
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    strict: true,
  }));
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function number(name: string, fallback: number, { min = 0, max = Infinity, integer = true } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    fail(`--${name}: must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
  }
  return value;
}

const events = number('events', 10_000, { min: 1, max: 1_000_000 });
const rate = number('rate', 100, { min: 1, max: 10_000, integer: false });
const options = {
  events,
  workers: number('workers', 3, { min: 2, max: 16 }),
  receivers: number('receivers', 2, { min: 1, max: 8 }),
  locations: number('locations', 4, { min: 1, max: 100 }),
  rate,
  duplicateRatio: number('duplicates', 0.15, { min: 0, max: 1, integer: false }),
  // Sending (re-sends included), then the drain: the backlog may outgrow what the workers do while
  // GHL misbehaves.
  timeoutMs:
    number('timeout', Math.ceil((events * 1.2) / rate) + Math.max(300, Math.ceil(events / 20)), {
      min: 10,
      max: 86_400,
    }) * 1_000,
  seed: values.seed === undefined ? undefined : number('seed', 0, { min: 0, max: 2 ** 31 - 1 }),
  log: (line: string) => process.stdout.write(`${line}\n`),
};

if (!hasRedisServerBinary()) {
  process.stderr.write(
    'pnpm chaos starts (and restarts) a redis-server of its own: put one on PATH (Debian: apt-get install redis-server).\n',
  );
  process.exit(2);
}

const report = await runChaos(options);
process.stdout.write(`\n${formatReport(report)}\n`);
const problems = problemsOf(report);
if (problems.length > 0) {
  process.stdout.write(
    `\nFAILED: ${problems.join('; ')}\n${report.details.map((d) => `  ${d}`).join('\n')}\n`,
  );
  process.exitCode = 1;
} else {
  process.stdout.write('\nnothing lost\n');
}
