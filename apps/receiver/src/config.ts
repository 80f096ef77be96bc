import { CredentialsKeyEnv, DEFAULT_OAUTH_BASE_URL, type CredentialsKey } from '@closeloop/credentials';
import {
  LogFormat,
  LogLevel,
  QueueEnv,
  blankAsUnset,
  envList,
  envPort,
  envString,
  envUrl,
  mapConfig,
  parseEnv,
  queueEnvProblems,
  type ConfigResult,
  type Env,
} from '@closeloop/runtime';
import { loadSourcesFile, type ConfiguredSource } from '@closeloop/sources';
import { z } from 'zod';

export { redactRedisUrl } from '@closeloop/runtime';

/**
 * The receiver's configuration (docs/contracts.md), read from the environment once, in main.ts, and
 * passed down. Every problem is reported at once so an operator fixes them in one go.
 * Messages never repeat a value: several variables hold secrets, and REDIS_URL may hold a password.
 */

/** Standard Webhooks asks for random secrets of 24 to 64 bytes (spec §"Signature scheme"). */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const MIN_API_KEY_LENGTH = 16;
const MIN_ADMIN_PASSWORD_LENGTH = 12;
const DEFAULT_BODY_LIMIT = 256 * 1024;
/** Bodies are events of a few hundred bytes; 16 MiB leaves room for anything sane. */
const MAX_BODY_LIMIT = 16 * 1024 * 1024;

export interface ReceiverConfig {
  redisUrl: string;
  queuePrefix: string;
  /** The internet-facing listener: webhooks and the internal API. */
  port: number;
  host: string;
  /** The admin listener (Bull Board, /metrics), kept off the webhook port; loopback by default. */
  adminListener: { port: number; host: string };
  /** Standard Webhooks secrets (`whsec_…`) for POST /webhooks/events; several during a rotation; empty = source off. */
  webhookSecrets: string[];
  /** Bearer key for POST /v1/task-updates; undefined = endpoint off. */
  internalApiKey: string | undefined;
  /** Bull Board credentials; undefined = board not mounted. */
  admin: { user: string; password: string } | undefined;
  bodyLimitBytes: number;
  /**
   * The GHL marketplace app whose installs GET /oauth/callback stores (packages/credentials README);
   * undefined = the route answers 503. Never logged: clientSecret and the key are secrets.
   */
  oauth: OAuthCallbackConfig | undefined;
  /** The helpdesk sources of SOURCES_FILE (docs/senders/README.md), secrets resolved; empty without the file. */
  sources: ConfiguredSource[];
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export interface OAuthCallbackConfig {
  /** GHL_BASE_URL: where POST /oauth/token is. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** GHL_REDIRECT_URI: the app's redirect URL, sent with the code exchange (GHL compares them). */
  redirectUri: string;
  /** CREDENTIALS_KEY: the credential store's key(s), the same value the worker runs with. */
  credentialsKey: CredentialsKey;
}

/** What GET /oauth/callback needs, all together (loadConfig); CREDENTIALS_KEY alone is a PIT-only store. */
const OAUTH_APP_VARIABLES = ['GHL_CLIENT_ID', 'GHL_CLIENT_SECRET', 'GHL_REDIRECT_URI'] as const;

function isWebhookSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match?.[1]) return false;
  const bytes = Buffer.from(match[1], 'base64');
  // Node's decoder skips what it cannot read; re-encoding catches malformed base64.
  const canonical = bytes.toString('base64').replace(/=+$/, '') === match[1].replace(/=+$/, '');
  return canonical && bytes.length >= MIN_SECRET_BYTES && bytes.length <= MAX_SECRET_BYTES;
}

const WebhookSecrets = envList().refine(
  (secrets) => secrets.every(isWebhookSecret),
  `each space-separated secret must be whsec_ followed by the base64 of ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} random bytes`,
);

/** Sent as `Authorization: Bearer <key>`, so it must be a valid header token. */
const InternalApiKey = z
  .string()
  .min(MIN_API_KEY_LENGTH, `must be at least ${MIN_API_KEY_LENGTH} characters`)
  .max(512, 'must be at most 512 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** Basic auth splits user from password at the first ":" (RFC 7617 §2). */
const AdminUser = z
  .string()
  .max(128)
  .regex(/^[^:\s]+$/, 'must not contain ":" or spaces');
const AdminPassword = z
  .string()
  .min(MIN_ADMIN_PASSWORD_LENGTH, `must be at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`)
  .max(256);

const BodyLimit = z
  .string()
  .regex(
    /^\d+\s*(b|kb|kib|mb|mib)?$/i,
    'must be a number of bytes, optionally with kb or mb (e.g. 262144, 256kb)',
  )
  .transform((value) => {
    const [, digits = '0', unit = 'b'] = /^(\d+)\s*([a-z]*)$/i.exec(value) ?? [];
    const factor = unit.toLowerCase().startsWith('m')
      ? 1024 * 1024
      : unit.toLowerCase().startsWith('k')
        ? 1024
        : 1;
    return Number(digits) * factor;
  })
  .refine((bytes) => bytes >= 1024 && bytes <= MAX_BODY_LIMIT, 'must be between 1kb and 16mb');

const EnvSchema = z.object({
  ...QueueEnv,
  PORT: envPort({ default: 3000 }),
  HOST: envString({ default: '0.0.0.0' }),
  ADMIN_PORT: envPort({ default: 3001 }),
  // Loopback by default: Bull Board can retry and remove jobs, and /metrics names queues; an operator
  // who wants them reachable says so (ADMIN_HOST=0.0.0.0 behind a firewall or a private network).
  ADMIN_HOST: envString({ default: '127.0.0.1' }),
  WEBHOOK_SECRET: WebhookSecrets,
  INTERNAL_API_KEY: z.preprocess(blankAsUnset, InternalApiKey.optional()),
  ADMIN_USER: z.preprocess(blankAsUnset, AdminUser.optional()),
  ADMIN_PASSWORD: z.preprocess(blankAsUnset, AdminPassword.optional()),
  BODY_LIMIT: z.preprocess(blankAsUnset, BodyLimit.default(DEFAULT_BODY_LIMIT)),
  SOURCES_FILE: envString(),
  GHL_BASE_URL: envUrl({ protocols: ['http', 'https'], default: DEFAULT_OAUTH_BASE_URL }),
  GHL_CLIENT_ID: envString(),
  GHL_CLIENT_SECRET: envString(),
  GHL_REDIRECT_URI: envUrl({ protocols: ['http', 'https'] }),
  CREDENTIALS_KEY: z.preprocess(blankAsUnset, CredentialsKeyEnv.optional()),
  LOG_LEVEL: LogLevel,
  LOG_FORMAT: LogFormat,
});

/**
 * Reads the receiver's configuration from `env`, listing every problem.
 *
 * At least one of WEBHOOK_SECRET and INTERNAL_API_KEY must be set: a receiver that can accept
 * nothing is a deployment mistake, better caught at start than by a silent sender. The endpoint
 * of the one left unset answers 503 SOURCE_NOT_CONFIGURED (senders keep retrying, so nothing is
 * lost once the operator adds the secret).
 */
export function loadConfig(env: Env): ConfigResult<ReceiverConfig> {
  const isSet = (name: string): boolean => blankAsUnset(env[name]) !== undefined;
  const sourcesFile = blankAsUnset(env.SOURCES_FILE);
  const sources =
    typeof sourcesFile === 'string' ? loadSourcesFile(sourcesFile, env) : { ok: true as const, sources: [] };
  const result = parseEnv(EnvSchema, env, () => [
    ...queueEnvProblems(env),
    ...(!isSet('WEBHOOK_SECRET') && !isSet('INTERNAL_API_KEY') && !isSet('SOURCES_FILE')
      ? [
          'WEBHOOK_SECRET, INTERNAL_API_KEY or SOURCES_FILE: set at least one, otherwise the receiver accepts nothing',
        ]
      : []),
    ...(sources.ok ? [] : sources.problems),
    ...(isSet('ADMIN_USER') !== isSet('ADMIN_PASSWORD')
      ? ['ADMIN_USER and ADMIN_PASSWORD: set both (Bull Board on) or neither (Bull Board off)']
      : []),
    ...oauthProblems(isSet),
  ]);
  return mapConfig(result, (values) => ({
    redisUrl: values.REDIS_URL,
    queuePrefix: values.QUEUE_PREFIX,
    port: values.PORT,
    host: values.HOST,
    adminListener: { port: values.ADMIN_PORT, host: values.ADMIN_HOST },
    webhookSecrets: values.WEBHOOK_SECRET,
    internalApiKey: values.INTERNAL_API_KEY,
    admin:
      values.ADMIN_USER !== undefined && values.ADMIN_PASSWORD !== undefined
        ? { user: values.ADMIN_USER, password: values.ADMIN_PASSWORD }
        : undefined,
    bodyLimitBytes: values.BODY_LIMIT,
    oauth:
      values.GHL_CLIENT_ID !== undefined &&
      values.GHL_CLIENT_SECRET !== undefined &&
      values.GHL_REDIRECT_URI !== undefined &&
      values.CREDENTIALS_KEY !== undefined
        ? {
            baseUrl: values.GHL_BASE_URL,
            clientId: values.GHL_CLIENT_ID,
            clientSecret: values.GHL_CLIENT_SECRET,
            redirectUri: values.GHL_REDIRECT_URI,
            credentialsKey: values.CREDENTIALS_KEY,
          }
        : undefined,
    sources: sources.ok ? sources.sources : [],
    logLevel: values.LOG_LEVEL,
    logFormat: values.LOG_FORMAT,
  }));
}

/**
 * GET /oauth/callback is on with the app's three variables and CREDENTIALS_KEY, off with none of the
 * three. Anything in between is a mistake caught at start (one problem per missing variable), not a
 * route that fails on the first install, whose code GHL does not send twice.
 */
function oauthProblems(isSet: (name: string) => boolean): string[] {
  const given = OAUTH_APP_VARIABLES.filter(isSet);
  if (given.length === 0) return [];
  const missing: string[] = OAUTH_APP_VARIABLES.filter((name) => !isSet(name));
  if (!isSet('CREDENTIALS_KEY')) missing.push('CREDENTIALS_KEY');
  return missing.map(
    (name) =>
      `${name}: required with ${given.join(' and ')} (GET /oauth/callback exchanges install codes with ` +
      'GHL_CLIENT_ID, GHL_CLIENT_SECRET and GHL_REDIRECT_URI, and stores the tokens under CREDENTIALS_KEY)',
  );
}
