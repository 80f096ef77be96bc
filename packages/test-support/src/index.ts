import { randomUUID } from 'node:crypto';

export {
  startRedisServer,
  findFreePort,
  hasRedisServerBinary,
  type LocalRedis,
  type StartRedisServerOptions,
} from './redis-server.js';
export { startRedisCluster, hasRedisCliBinary, type LocalRedisCluster } from './redis-cluster.js';
export { waitFor } from './wait-for.js';

/** The Redis the test run provides (set by the jest global setup). */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run the tests through `pnpm test` (jest global setup).');
  return url;
}

/** A unique BullMQ prefix / key namespace per test, so tests never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `test-${label}-${randomUUID().slice(0, 8)}`;
}
export {
  loadGhlContract,
  type GhlContract,
  type ContractRequest,
  type ContractResponseCheck,
} from './ghl-contract.js';
export { startBareExpress, summarizeLoad } from './bench.js';
export { sendRawHttp, headerOf, malformedHttpRequests, type RawExchange } from './raw-http.js';
