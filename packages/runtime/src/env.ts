import { z } from 'zod';

/**
 * zod schemas for environment variables. Every helper treats a blank or whitespace-only value as
 * unset: docker compose writes `${FOO:-}` as `FOO=`, and a blank line in an .env file must mean
 * "take the default", not 0 or "". Messages never repeat the value: several variables hold secrets,
 * and configuration problems are printed.
 */

/** `FOO=` or `FOO="  "` means "not set". */
export function blankAsUnset(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

/** A variable holding free text; `default` when unset. */
export function envString(options: { default: string }): z.ZodType<string>;
export function envString(options?: { default?: undefined }): z.ZodType<string | undefined>;
export function envString(options: { default?: string } = {}): z.ZodType<string | undefined> {
  const text = z.string();
  return z.preprocess(
    blankAsUnset,
    options.default === undefined ? text.optional() : text.default(options.default),
  );
}

/**
 * A whole number in [min, max]. Only digits (and a sign) are accepted: `Number()` would also read
 * "1e3" or "0x10", which nobody means in an env file.
 */
export function envInteger(options: { default: number; min: number; max: number }): z.ZodType<number>;
export function envInteger(options: {
  default?: undefined;
  min: number;
  max: number;
}): z.ZodType<number | undefined>;
export function envInteger(options: {
  default?: number;
  min: number;
  max: number;
}): z.ZodType<number | undefined> {
  const message = `must be a whole number from ${options.min} to ${options.max}`;
  const integer = z
    .string({ error: message })
    .trim()
    .regex(/^[+-]?\d+$/, message)
    .transform(Number)
    .pipe(z.number().int(message).min(options.min, message).max(options.max, message));
  return z.preprocess(
    (value) => (typeof value === 'number' ? String(value) : blankAsUnset(value)),
    options.default === undefined ? integer.optional() : integer.default(options.default),
  );
}

/** A TCP port; 0 asks the OS for a free one (tests). */
export function envPort(options: { default: number }): z.ZodType<number> {
  return envInteger({ default: options.default, min: 0, max: 65_535 });
}

/** A whitespace-separated list (spaces, tabs or newlines); `[]` when unset. */
export function envList(): z.ZodType<string[]> {
  return z.preprocess(
    blankAsUnset,
    z
      .string()
      .transform((value) => value.trim().split(/\s+/))
      .default([]),
  );
}

/**
 * "key=value key2=value2" (whitespace-separated) → `{ key: value, key2: value2 }`; `{}` when unset.
 * Each entry is split at its first "=". A problem names the entry by its 1-based index, and the key
 * once it is valid, never the value: values are often tokens. A key given two different values is a
 * problem; the same pair twice is not.
 */
export function envKeyValueList(
  options: {
    key?: z.ZodType<string>;
    value?: z.ZodType<string>;
    /** How an entry looks, for the message about a malformed one; default "key=value". */
    form?: string;
  } = {},
): z.ZodType<Record<string, string>> {
  const keySchema = options.key ?? z.string().min(1);
  const valueSchema = options.value ?? z.string().min(1);
  const form = options.form ?? 'key=value';
  return z.preprocess(
    blankAsUnset,
    z
      .string()
      .transform((list, context) => {
        const pairs: Record<string, string> = {};
        list
          .trim()
          .split(/\s+/)
          .forEach((entry, index) => {
            const where = `entry ${index + 1}`;
            const separator = entry.indexOf('=');
            const key = separator > 0 ? entry.slice(0, separator) : '';
            const value = separator > 0 ? entry.slice(separator + 1) : '';
            if (!keySchema.safeParse(key).success || value === '') {
              context.addIssue({ code: 'custom', message: `${where} must look like ${form}` });
              return;
            }
            const valueCheck = valueSchema.safeParse(value);
            if (!valueCheck.success) {
              const reason = valueCheck.error.issues[0]?.message ?? 'is invalid';
              context.addIssue({ code: 'custom', message: `${where} (${key}): value ${reason}` });
              return;
            }
            if (pairs[key] !== undefined && pairs[key] !== value) {
              context.addIssue({ code: 'custom', message: `${where}: ${key} is given two different values` });
              return;
            }
            pairs[key] = value;
          });
        return pairs;
      })
      .default({}),
  );
}

/** An absolute URL whose scheme is one of `protocols` (without the colon, e.g. ['http', 'https']). */
export function envUrl(options: { protocols: string[]; default: string }): z.ZodType<string>;
export function envUrl(options: { protocols: string[]; default?: undefined }): z.ZodType<string | undefined>;
export function envUrl(options: { protocols: string[]; default?: string }): z.ZodType<string | undefined> {
  const message = `must be a ${options.protocols.map((protocol) => `${protocol}://`).join(' or ')} URL`;
  const url = z.string().refine((value) => {
    try {
      return options.protocols.includes(new URL(value).protocol.replace(/:$/, ''));
    } catch {
      return false;
    }
  }, message);
  return z.preprocess(
    blankAsUnset,
    options.default === undefined ? url.optional() : url.default(options.default),
  );
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** LOG_LEVEL: one of pino's levels, any case; `info` when unset. */
export const LogLevel: z.ZodType<LogLevel> = z.preprocess(
  (value) => (typeof value === 'string' ? blankAsUnset(value.toLowerCase()) : value),
  z.enum(LOG_LEVELS).default('info'),
);

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** LOG_FORMAT: `json` (one object a line, for machines; the default) or `pretty` (for people, `pnpm dev`). */
export const LogFormat: z.ZodType<LogFormat> = z.preprocess(
  (value) => (typeof value === 'string' ? blankAsUnset(value.toLowerCase()) : value),
  z.enum(LOG_FORMATS).default('json'),
);
