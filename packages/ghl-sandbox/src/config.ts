import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SandboxSeed } from './schemas.js';
import type { StartSandboxOptions } from './server.js';

/** An unset or empty variable takes the default (a blank line in an .env file must not mean 0). */
const blankAsUnset = (value: unknown): unknown => (value === '' ? undefined : value);
const positiveInt = z.preprocess(blankAsUnset, z.coerce.number().int().positive().optional());

export const SandboxEnv = z.object({
  PORT: z.preprocess(blankAsUnset, z.coerce.number().int().min(0).max(65_535).default(4010)),
  // Loopback unless HOST says otherwise: the sandbox accepts any seeded token and must not be
  // reachable from the network by accident.
  HOST: z.preprocess(blankAsUnset, z.string().default('127.0.0.1')),
  SANDBOX_BURST_LIMIT: positiveInt,
  SANDBOX_BURST_INTERVAL_MS: positiveInt,
  SANDBOX_DAILY_LIMIT: positiveInt,
  SANDBOX_SEED_FILE: z.preprocess(blankAsUnset, z.string().optional()),
});
export type SandboxEnv = z.infer<typeof SandboxEnv>;

export interface SandboxConfig {
  start: StartSandboxOptions;
  seed: SandboxSeed | undefined;
}

export type ConfigResult = { ok: true; config: SandboxConfig } | { ok: false; problems: string[] };

/** Parses the environment once, collecting every problem instead of stopping at the first. */
export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = SandboxEnv.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  // The seed file is checked even when a variable is wrong, so one run lists every problem.
  const seedFile = env.SANDBOX_SEED_FILE;
  const loaded = seedFile ? loadSeedFile(seedFile) : undefined;
  if (loaded && !loaded.ok) problems.push(...loaded.problems);
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  const vars = parsed.data;
  return {
    ok: true,
    config: {
      start: {
        port: vars.PORT,
        host: vars.HOST,
        ...(vars.SANDBOX_BURST_LIMIT !== undefined && { burstLimit: vars.SANDBOX_BURST_LIMIT }),
        ...(vars.SANDBOX_BURST_INTERVAL_MS !== undefined && {
          burstIntervalMs: vars.SANDBOX_BURST_INTERVAL_MS,
        }),
        ...(vars.SANDBOX_DAILY_LIMIT !== undefined && { dailyLimit: vars.SANDBOX_DAILY_LIMIT }),
      },
      seed: loaded?.ok ? loaded.seed : undefined,
    },
  };
}

function loadSeedFile(file: string): { ok: true; seed: SandboxSeed } | { ok: false; problems: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return { ok: false, problems: [`SANDBOX_SEED_FILE: cannot read ${file} as JSON: ${String(error)}`] };
  }
  const seed = SandboxSeed.safeParse(json);
  if (!seed.success) {
    return {
      ok: false,
      problems: seed.error.issues.map(
        (issue) => `SANDBOX_SEED_FILE ${file} at ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      ),
    };
  }
  return { ok: true, seed: seed.data };
}
