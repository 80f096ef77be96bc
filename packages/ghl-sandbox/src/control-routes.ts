import express, { type ErrorRequestHandler } from 'express';
import { FaultSpec, OAuthRevoke, SandboxSeed } from './schemas.js';
import { SeedError, type SandboxState } from './state.js';

/**
 * The test-only API under /__sandbox. Not recorded and not rate-limited: tests and `pnpm dev` use it
 * to arrange and inspect, and it must not disturb what the worker sees.
 */
export function createControlRouter(state: SandboxState): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '10mb' }));

  router.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  router.post('/seed', (req, res) => {
    const parsed = SandboxSeed.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid seed', issues: parsed.error.issues });
      return;
    }
    try {
      state.seed(parsed.data);
    } catch (error) {
      if (error instanceof SeedError) {
        res.status(400).json({ error: error.message });
        return;
      }
      throw error;
    }
    res.status(204).end();
  });

  router.get('/tasks/:taskId', (req, res) => {
    const task = state.task(req.params.taskId);
    if (task) res.json(task);
    else res.status(404).json({ error: 'no such task' });
  });

  router.get('/calls', (req, res) => {
    const { path, method } = req.query;
    res.json({
      calls: state.calls.list({
        ...(typeof path === 'string' && { path }),
        ...(typeof method === 'string' && { method }),
      }),
    });
  });

  router.delete('/calls', (_req, res) => {
    state.calls.clear();
    res.status(204).end();
  });

  router.post('/faults', (req, res) => {
    const parsed = FaultSpec.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid fault', issues: parsed.error.issues });
      return;
    }
    res.status(201).json(state.faults.add(parsed.data));
  });

  router.delete('/faults', (_req, res) => {
    state.faults.clear();
    res.status(204).end();
  });

  // Uninstalls an app from a location or company: its refresh tokens answer invalid_grant from now on
  // and its access tokens 401 (docs/ghl-api.md §3.1).
  router.post('/oauth/revoke', (req, res) => {
    const parsed = OAuthRevoke.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid revoke', issues: parsed.error.issues });
      return;
    }
    res.json({ revoked: state.oauth.revoke(parsed.data) });
  });

  router.post('/reset', (_req, res) => {
    state.reset();
    res.status(204).end();
  });

  router.use((req, res) => {
    res.status(404).json({ error: `no control route ${req.method} ${req.path}` });
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    const status =
      typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number'
        ? error.status
        : 500;
    res.status(status).json({ error: error instanceof Error ? error.message : 'control API error' });
  };
  router.use(onError);
  return router;
}
