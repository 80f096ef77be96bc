import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A single-instance Redis lock: `SET key token NX PX ttl`, released by a script that deletes the key
 * only while it still holds our token, so a holder whose lock expired never frees someone else's
 * (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/, "Correct Implementation with a
 * Single Instance"). Hand-written: it is those two commands, and Redlock's multi-master algorithm
 * adds nothing with one Redis.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface HeldLock {
  key: string;
  token: string;
}

export async function tryAcquireLock(
  redis: Redis | Cluster,
  key: string,
  ttlMs: number,
): Promise<HeldLock | undefined> {
  const token = randomUUID();
  const result = await redis.set(key, token, 'PX', ttlMs, 'NX');
  return result === 'OK' ? { key, token } : undefined;
}

export async function releaseLock(redis: Redis | Cluster, lock: HeldLock): Promise<void> {
  await redis.eval(RELEASE, 1, lock.key, lock.token);
}
