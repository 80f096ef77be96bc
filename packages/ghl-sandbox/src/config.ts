import { readFileSync } from 'node:fs';
import {
  LogFormat,
  LogLevel,
  blankAsUnset,
  envInteger,
  envPort,
  envString,
  mapConfig,
  parseEnv,
  type ConfigResult,
  type Env,
} from '@closeloop/runtime';
import { z } from 'zod';
import { RATE_WINDOWS, type RateWindow } from './rate-limiter.js';
import { SandboxSeed } from './schemas.js';
import type { StartSandboxOptions } from './server.js';

export const SandboxEnv = z.object({
  PORT: envPort({ default: 4010 }),
  // Loopback unless HOST says otherwise: the sandbox accepts any seeded token and must not be
  // reachable from the network by accident.
  HOST: envString({ default: '127.0.0.1' }),
  SANDBOX_BURST_LIMIT: envInteger({ min: 1, max: 1_000_000 }),
  SANDBOX_BURST_INTERVAL_MS: envInteger({ min: 1, max: 86_400_000 }),
  SANDBOX_DAILY_LIMIT: envInteger({ min: 1, max: 1_000_000_000 }),
  SANDBOX_RATE_WINDOW: z.preprocess(
    (value) => (typeof value === 'string' ? blankAsUnset(value.trim().toLowerCase()) : value),
    z.enum(RATE_WINDOWS as [RateWindow, ...RateWindow[]], { error: 'must be fixed or sliding' }).optional(),
  ),
  SANDBOX_DAY_MS: envInteger({ min: 1, max: 86_400_000 }),
  SANDBOX_ACCESS_TOKEN_TTL_MS: envInteger({ min: 1, max: 31_536_000_000 }),
  SANDBOX_SEED_FILE: envString(),
  LOG_LEVEL: LogLevel,
  LOG_FORMAT: LogFormat,
});
export type SandboxEnv = z.infer<typeof SandboxEnv>;

export interface SandboxConfig {
  start: StartSandboxOptions;
  seed: SandboxSeed | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Parses the environment once (in main.ts); the seed file is read and checked here too. */
export function loadConfig(env: Env): ConfigResult<SandboxConfig> {
  // The seed file is checked even when a variable is wrong, so one run lists every problem.
  const seedFile = blankAsUnset(env.SANDBOX_SEED_FILE);
  const loaded = typeof seedFile === 'string' ? loadSeedFile(seedFile) : undefined;
  const result = parseEnv(SandboxEnv, env, () => (loaded && !loaded.ok ? loaded.problems : []));
  return mapConfig(result, (vars) => ({
    start: {
      port: vars.PORT,
      host: vars.HOST,
      ...(vars.SANDBOX_BURST_LIMIT !== undefined && { burstLimit: vars.SANDBOX_BURST_LIMIT }),
      ...(vars.SANDBOX_BURST_INTERVAL_MS !== undefined && {
        burstIntervalMs: vars.SANDBOX_BURST_INTERVAL_MS,
      }),
      ...(vars.SANDBOX_DAILY_LIMIT !== undefined && { dailyLimit: vars.SANDBOX_DAILY_LIMIT }),
      ...(vars.SANDBOX_RATE_WINDOW !== undefined && { rateWindow: vars.SANDBOX_RATE_WINDOW }),
      ...(vars.SANDBOX_DAY_MS !== undefined && { dayMs: vars.SANDBOX_DAY_MS }),
      ...(vars.SANDBOX_ACCESS_TOKEN_TTL_MS !== undefined && {
        accessTokenTtlMs: vars.SANDBOX_ACCESS_TOKEN_TTL_MS,
      }),
    },
    seed: loaded?.ok ? loaded.seed : undefined,
    logLevel: vars.LOG_LEVEL,
    logFormat: vars.LOG_FORMAT,
  }));
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
