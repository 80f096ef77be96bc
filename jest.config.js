// One jest run for the whole workspace: one Redis (started by globalSetup) shared by every test file;
// each test isolates itself with its own queue prefix / key namespace.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/packages', '<rootDir>/e2e'],
  testMatch: ['**/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  globalSetup: '<rootDir>/packages/test-support/src/global-setup.ts',
  globalTeardown: '<rootDir>/packages/test-support/src/global-teardown.ts',
  testTimeout: 30_000,
  // Test files run in a worker process that is replaced once its heap passes 1 GB after a file.
  // Without it, on two cores (one worker) jest runs every file in its main process, where each file's
  // modules stay reachable under --experimental-vm-modules: the heap grew ~30 MB a file and reached
  // 1.18 GB by the end of one CI run, a third of Node's default heap limit.
  workerIdleMemoryLimit: '1GB',
};
