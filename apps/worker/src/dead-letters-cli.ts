import { runDeadLettersCli } from './dead-letters-command.js';

/**
 * `pnpm dead-letters …` (root script: `tsx apps/worker/src/dead-letters-cli.ts`): list dead letters
 * and send them back to `task-updates`. Run without arguments for the usage.
 */
runDeadLettersCli(
  process.argv.slice(2),
  process.env,
  (line) => console.log(line),
  (line) => console.error(line),
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dead-letters: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
