import { z } from 'zod';

/**
 * The environment every process that talks to the queues shares (docs/contracts.md, "Configuration": REDIS_URL,
 * QUEUE_PREFIX). One definition, so the receiver and the worker accept exactly the same values: a
 * prefix one of them refused would split producers and workers onto different keys.
 */

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** `FOO=` (as docker compose writes `${FOO:-}`, or a blank line in an .env file) means "not set". */
export function blankAsUnset(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

/** The message never repeats the value: the URL may carry a password, and config errors are printed. */
export const RedisUrl = z.string().refine((value) => {
  try {
    return ['redis:', 'rediss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be a redis:// or rediss:// URL');

/** `{closeloop}` (a Redis Cluster hash tag) must stay possible; `:` would blur BullMQ's key layout. */
export const QueuePrefix = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9_{}.-]+$/, 'may contain only letters, digits, "_", "-", ".", "{" and "}"');

/** REDIS_URL for logs: the password, if any, replaced. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable]';
  }
}
