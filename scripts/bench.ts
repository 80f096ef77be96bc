/**
 * `pnpm bench [name] [args…]`: every benchmark, or the one named (`sandbox`, `receiver`, `budget`, `fairness`),
 * one after the other (they would compete for the same cores if run together). Each reports its
 * figure beside a baseline of the same run, never as an absolute target (README "Benchmarks").
 * The args go to the benchmark: `pnpm bench receiver 10 50` (seconds, connections),
 * `pnpm bench budget --limit 20 --interval-ms 2000` (apps/worker/bench/budget-bench.ts),
 * `pnpm bench fairness --backlog 2000` (apps/worker/bench/fairness-bench.ts). Without a
 * name, `[seconds] [connections]` go to the load benchmarks and `budget` runs with its defaults.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const benches = [
  {
    id: 'sandbox',
    name: 'GHL sandbox: PUT …/completed vs bare Express',
    file: 'packages/ghl-sandbox/bench/sandbox-bench.ts',
    takesLoadArgs: true,
  },
  {
    id: 'receiver',
    name: 'receiver: signed webhook → Redis vs bare Express 202',
    file: 'apps/receiver/bench/receiver-bench.ts',
    takesLoadArgs: true,
  },
  {
    id: 'budget',
    name: 'worker budget: many locations at full speed vs a perfect sliding-window client',
    file: 'apps/worker/bench/budget-bench.ts',
    takesLoadArgs: false,
  },
  {
    id: 'fairness',
    name: "worker fairness: one location's job while another has a backlog or answers slowly",
    file: 'apps/worker/bench/fairness-bench.ts',
    takesLoadArgs: false,
  },
];

const named = benches.find((bench) => bench.id === args[0]);
if (args[0] !== undefined && !named && !/^\d+$/.test(args[0])) {
  process.stderr.write(`unknown benchmark ${args[0]}; one of: ${benches.map((b) => b.id).join(', ')}\n`);
  process.exit(2);
}
const selected = named
  ? [{ ...named, args: args.slice(1) }]
  : benches.map((b) => ({ ...b, args: b.takesLoadArgs ? args : [] }));

let failed = false;
for (const bench of selected) {
  process.stdout.write(`\n== ${bench.name}\n`);
  const run = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [bench.file, ...bench.args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (run.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
