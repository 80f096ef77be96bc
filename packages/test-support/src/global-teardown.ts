export default async function globalTeardown(): Promise<void> {
  await globalThis.__closeloopStopRedis?.();
  globalThis.__closeloopStopRedis = undefined;
}
