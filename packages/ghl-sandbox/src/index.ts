export { createSandboxApp } from './app.js';
export { SandboxControl, SandboxControlError } from './control-client.js';
export { startSandbox, type RunningSandbox, type StartSandboxOptions } from './server.js';
export { SandboxState, SeedError, DEFAULT_OPTIONS } from './state.js';
export { type RateLimitState } from './rate-limiter.js';
export {
  FaultSpec,
  SandboxSeed,
  type RecordedCall,
  type SandboxContact,
  type SandboxOptions,
  type SandboxTask,
} from './schemas.js';
