import express from 'express';
import { createControlRouter } from './control-routes.js';
import { installGhlApi } from './ghl-routes.js';
import type { SandboxOptions } from './schemas.js';
import { SandboxState } from './state.js';

/** The sandbox as an Express app, for callers that own the HTTP server; `startSandbox` wraps it. */
export function createSandboxApp(options: SandboxOptions = {}): {
  app: express.Express;
  state: SandboxState;
} {
  const state = new SandboxState(options);
  const app = express();
  app.disable('x-powered-by');
  // No ETag: hashing every body costs throughput and GHL's API answers carry none the worker needs.
  app.set('etag', false);
  app.use('/__sandbox', createControlRouter(state));
  installGhlApi(app, state);
  return { app, state };
}
