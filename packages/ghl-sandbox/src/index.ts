export { createSandboxApp } from './app.js';
export { SandboxControl, SandboxControlError } from './control-client.js';
export { startSandbox, type RunningSandbox, type StartSandboxOptions } from './server.js';
export { SandboxState, SeedError, DEFAULT_OPTIONS } from './state.js';
export { RATE_WINDOWS, type RateLimitState, type RateLimits, type RateWindow } from './rate-limiter.js';
export {
  FaultSpec,
  OAuthRevoke,
  SandboxOAuthSeed,
  SandboxRateLimit,
  SandboxSeed,
  type RecordedCall,
  type SandboxContact,
  type SandboxOptions,
  type SandboxTask,
} from './schemas.js';
