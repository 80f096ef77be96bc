import { isRedisClusterUrl, parseRedisClusterUrl } from '@closeloop/runtime';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * One place that knows how each role talks to Redis (BullMQ docs, going-to-production.md):
 * - `producer` (HTTP handlers): fail fast instead of queueing commands while Redis is away, so a
 *   request gets a 503 within a second instead of hanging (failing-fast-when-redis-is-down.md;
 *   hang reports bullmq#982, #995). `commandTimeout` also covers a Redis that accepts the
 *   connection but does not answer.
 * - `worker`: `maxRetriesPerRequest: null`, required by BullMQ for blocking connections; it waits
 *   for Redis to come back instead of failing jobs.
 */
export type ConnectionRole = 'producer' | 'worker';

/**
 * A single Redis or a Redis Cluster (REDIS_URL `redis+cluster://…`, docs/redis-cluster.md). Both
 * offer the same commands, `defineCommand`, `multi`, `duplicate` and events, and BullMQ takes either.
 * On a cluster every multi-key command and script must keep its keys in one slot: QUEUE_PREFIX
 * carries a hash tag there (packages/runtime queue-env.ts `queueEnvProblems`).
 */
export type RedisConnection = Redis | Cluster;

function roleOptions(role: ConnectionRole): RedisOptions {
  return role === 'producer'
    ? {
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        maxRetriesPerRequest: 0,
        commandTimeout: 1_000,
        connectTimeout: 1_000,
        // ioredis 5.11.1 keeps a `disconnectTimeout` timer (2 s by default) alive when the producer is
        // closed during an outage, which holds the process open that long after shutdown.
        disconnectTimeout: 200,
        // Reconnect quickly and forever: the receiver must work again as soon as Redis is back.
        retryStrategy: (times) => Math.min(100 * times, 1_000),
      }
    : {
        maxRetriesPerRequest: null,
        retryStrategy: (times) => Math.min(200 * times, 2_000),
      };
}

/**
 * The connection for `role` to REDIS_URL; `options` override the role's. For a cluster URL an
 * ioredis `Cluster` on the URL's seed nodes, with the same options split the way ioredis wants them:
 * reconnecting (`retryStrategy`), the offline queue and `lazyConnect` belong to the cluster
 * (`clusterRetryStrategy`, …); timeouts, `maxRetriesPerRequest` (read by BullMQ from
 * `redisOptions`), the credentials and TLS to each node's connection.
 */
export function createRedisConnection(
  url: string,
  role: ConnectionRole,
  options: RedisOptions = {},
): RedisConnection {
  const merged: RedisOptions = { ...roleOptions(role), ...options };
  if (!isRedisClusterUrl(url)) return new Redis(url, merged);
  const parsed = parseRedisClusterUrl(url);
  // The processes validate REDIS_URL at start (packages/runtime queue-env.ts); this is for callers
  // that did not. The message does not repeat the URL: it may hold a password.
  if (!parsed.ok) throw new Error(`REDIS_URL: ${parsed.problem}`);
  const { nodes, username, password, tls } = parsed.target;
  const {
    retryStrategy,
    enableOfflineQueue,
    lazyConnect,
    // Node addresses come from the URL and CLUSTER SLOTS; replicas are not read (consistency).
    host: _host,
    port: _port,
    path: _path,
    sentinels: _sentinels,
    readOnly: _readOnly,
    ...nodeOptions
  } = merged;
  const clusterOptions: ClusterOptions = {
    clusterRetryStrategy: retryStrategy ?? ((times) => Math.min(100 * times, 2_000)),
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    redisOptions: {
      ...nodeOptions,
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      ...(tls && { tls: {} }),
    },
    // With TLS, connect by the name the certificate carries, not by the address ioredis would
    // resolve it to first (ioredis README, "Special note: AWS ElastiCache Clusters with TLS").
    ...(tls && { dnsLookup: (address: string, callback) => callback(null, address) }),
  };
  return new Cluster(nodes, clusterOptions);
}
