/**
 * `pnpm bench [seconds] [connections]`: every benchmark, one after the other (they would compete for
 * the same cores if run together). Each reports its figure as a ratio to a baseline measured in the
 * same run, never as an absolute target (README "Benchmarks").
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const benches = [
  {
    name: 'GHL sandbox: PUT …/completed vs bare Express',
    file: 'packages/ghl-sandbox/bench/sandbox-bench.ts',
  },
  {
    name: 'receiver: signed webhook → Redis vs bare Express 202',
    file: 'apps/receiver/bench/receiver-bench.ts',
  },
];

let failed = false;
for (const bench of benches) {
  process.stdout.write(`\n== ${bench.name}\n`);
  const run = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [bench.file, ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (run.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
