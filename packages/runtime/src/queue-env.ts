import { z } from 'zod';
import { blankAsUnset } from './env.js';

/**
 * The environment every process that talks to the queues shares (docs/contracts.md: REDIS_URL,
 * QUEUE_PREFIX). One definition, so the receiver, the worker and the CLI accept exactly the same
 * values: a prefix one of them refused would split producers and workers onto different keys.
 */

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_QUEUE_PREFIX = 'closeloop';

/**
 * `redis://`, `rediss://`, or a Redis Cluster URL (`redis+cluster://`, below). The message never
 * repeats the value: the URL may carry a password, and config errors are printed.
 */
export const RedisUrl = z.string().superRefine((value, context) => {
  if (isRedisClusterUrl(value)) {
    const cluster = parseRedisClusterUrl(value);
    if (!cluster.ok) context.addIssue({ code: 'custom', message: cluster.problem });
    return;
  }
  if (!isSingleNodeUrl(value)) {
    context.addIssue({
      code: 'custom',
      message: 'must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL',
    });
  }
});

function isSingleNodeUrl(value: string): boolean {
  try {
    return ['redis:', 'rediss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** `{closeloop}` (a Redis Cluster hash tag) must stay possible; `:` would blur BullMQ's key layout. */
export const QueuePrefix = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9_{}.-]+$/, 'may contain only letters, digits, "_", "-", ".", "{" and "}"');

/** Spread into a process's env schema: `z.object({ ...QueueEnv, PORT: … })`. */
export const QueueEnv = {
  REDIS_URL: z.preprocess(blankAsUnset, RedisUrl.default(DEFAULT_REDIS_URL)),
  QUEUE_PREFIX: z.preprocess(blankAsUnset, QueuePrefix.default(DEFAULT_QUEUE_PREFIX)),
};

/** REDIS_URL for logs: the password, if any, replaced. */
export function redactRedisUrl(url: string): string {
  if (isRedisClusterUrl(url)) {
    // Not a WHATWG URL (several hosts): replace what stands between the user's ":" and the last "@".
    const trimmed = url.trim();
    const start = trimmed.indexOf('://') + 3;
    const at = trimmed.lastIndexOf('@');
    if (at < start) return trimmed;
    const colon = trimmed.indexOf(':', start);
    return colon >= 0 && colon < at ? `${trimmed.slice(0, colon + 1)}***${trimmed.slice(at)}` : trimmed;
  }
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable]';
  }
}

/**
 * Redis Cluster (docs/redis-cluster.md): REDIS_URL names the seed nodes in one multi-host URL,
 * `redis+cluster://[user:password@]host:port[,host:port…]` (`rediss+cluster://` for TLS), the way
 * MongoDB and libpq connection strings list several hosts. One variable, not a second one next to
 * REDIS_URL: everything that already hands REDIS_URL on (docker compose, `pnpm dev`, the e2e helpers,
 * every process's config) gets cluster mode with no change, and no process can be left reading a
 * single node while the others use the cluster, which would split producers from workers.
 */
export const REDIS_CLUSTER_SCHEMES = ['redis+cluster', 'rediss+cluster'] as const;

export interface RedisClusterNode {
  host: string;
  port: number;
}

/** What a `redis+cluster://` URL says: the seed nodes, the credentials for every node, TLS or not. */
export interface RedisClusterTarget {
  nodes: RedisClusterNode[];
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(.*)$/is;
const HOST_NAME = /^[A-Za-z0-9_.-]+$/;
const IPV6_NODE = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/;

/** A `redis+cluster://` or `rediss+cluster://` URL (valid or not). */
export function isRedisClusterUrl(url: string): boolean {
  return CLUSTER_URL.test(url.trim());
}

/**
 * Reads a cluster URL. Problems never repeat the URL or a part of it (it may hold a password). A
 * database other than 0 is refused: Redis Cluster has only database 0.
 */
export function parseRedisClusterUrl(
  url: string,
): { ok: true; target: RedisClusterTarget } | { ok: false; problem: string } {
  const match = CLUSTER_URL.exec(url.trim());
  if (!match) return { ok: false, problem: 'must be a redis+cluster:// or rediss+cluster:// URL' };
  const rest = match[2] ?? '';
  // The last "@": a password may hold a raw "@", a host list never does.
  const at = rest.lastIndexOf('@');
  const userInfo = at >= 0 ? rest.slice(0, at) : undefined;
  let hostsAndPath = at >= 0 ? rest.slice(at + 1) : rest;
  if (/[?#]/.test(hostsAndPath)) return { ok: false, problem: 'a cluster URL takes no query or fragment' };
  const slash = hostsAndPath.indexOf('/');
  if (slash >= 0) {
    if (!['', '0'].includes(hostsAndPath.slice(slash + 1))) {
      return { ok: false, problem: 'Redis Cluster has only database 0: end the cluster URL after the hosts' };
    }
    hostsAndPath = hostsAndPath.slice(0, slash);
  }
  const nodes: RedisClusterNode[] = [];
  const entries = hostsAndPath.split(',').map((entry) => entry.trim());
  for (const [index, entry] of entries.entries()) {
    const where = `node ${index + 1} of the cluster URL`;
    const ipv6 = IPV6_NODE.exec(entry);
    const separator = entry.lastIndexOf(':');
    const host = ipv6 ? ipv6[1] : separator >= 0 ? entry.slice(0, separator) : entry;
    const portText = ipv6 ? ipv6[2] : separator >= 0 ? entry.slice(separator + 1) : undefined;
    if (!host || (!ipv6 && !HOST_NAME.test(host))) {
      return { ok: false, problem: `${where} must look like host:port` };
    }
    const port = portText === undefined ? 6379 : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65_535)) {
      return { ok: false, problem: `${where} must have a port from 1 to 65535` };
    }
    nodes.push({ host, port });
  }
  const target: RedisClusterTarget = { nodes, tls: match[1]?.toLowerCase() === 'rediss' };
  if (userInfo) {
    const colon = userInfo.indexOf(':');
    try {
      const username = decodeURIComponent(colon >= 0 ? userInfo.slice(0, colon) : userInfo);
      const password = colon >= 0 ? decodeURIComponent(userInfo.slice(colon + 1)) : '';
      if (username) target.username = username;
      if (password) target.password = password;
    } catch {
      return { ok: false, problem: 'the user or password of the cluster URL is not valid percent-encoding' };
    }
  }
  return { ok: true, target };
}

/**
 * The slot-deciding part of every key under `prefix`, as Redis computes it (cluster-spec "hash
 * tags"): the text between the first "{" and the first "}" after it, when not empty. Undefined when
 * the prefix has none: then keys of one queue land in different slots.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

/**
 * The problems that involve REDIS_URL and QUEUE_PREFIX together, from the raw variables (add them
 * to parseEnv's refine). On Redis Cluster the prefix must carry a hash tag: BullMQ's scripts touch
 * several keys of a queue at once, as do closeloop's (dedupe, ordering guard, rate budget), and Redis
 * Cluster refuses a script whose keys are in different slots (CROSSSLOT).
 */
export function queueEnvProblems(env: Record<string, string | undefined>): string[] {
  const url = blankAsUnset(env.REDIS_URL);
  if (typeof url !== 'string' || !isRedisClusterUrl(url)) return [];
  const given = blankAsUnset(env.QUEUE_PREFIX);
  const prefix = typeof given === 'string' ? given : DEFAULT_QUEUE_PREFIX;
  if (hashTagOf(prefix) !== undefined) return [];
  return [
    'QUEUE_PREFIX: needs a Redis Cluster hash tag when REDIS_URL is a redis+cluster:// URL, e.g. {closeloop}: ' +
      'every key of the queues must be in one hash slot (docs/redis-cluster.md)',
  ];
}
