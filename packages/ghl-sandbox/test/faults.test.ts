import { describe, expect, it } from '@jest/globals';
import { loadGhlContract, waitFor } from '@closeloop/test-support';
import { startSandbox } from '../src/index.js';
import { startSandboxWithState } from '../src/server.js';
import {
  C1,
  T1,
  T2,
  TOKEN_L1,
  VERSION,
  callGhl,
  completePath,
  rateHeaders,
  resetAndSeed,
  useSharedSandbox,
} from './helpers.js';

const sandbox = useSharedSandbox();

const put = (taskId = T1, token?: string) =>
  callGhl(sandbox.url, {
    method: 'PUT',
    path: completePath(C1, taskId),
    body: { completed: true },
    ...(token !== undefined && { token }),
  });

describe('injected faults', () => {
  it('When a 500 fault is injected for the next 2 calls, then exactly those 2 answer 500, whatever the token, and the third is served', async () => {
    await sandbox.control.injectFault({ status: 500, count: 2 });

    const first = await put(T1, 'unknown-token');
    const second = await put();
    const third = await put();

    expect([first.status, second.status, third.status]).toEqual([500, 500, 200]);
    expect(first.contract?.documented).toBe(false);
    expect(first.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    expect((await sandbox.control.getTask(T1))?.completed).toBe(true);
  });

  it('When a fault has no count and no ratio, then it applies to the next call only', async () => {
    await sandbox.control.injectFault({ status: 503 });

    expect((await put()).status).toBe(503);
    expect((await put()).status).toBe(200);
  });

  it('When a 500 fault answers, then the task is left unchanged and the call is recorded with status 500', async () => {
    await sandbox.control.injectFault({ status: 500 });
    await put();

    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
    const [call] = await sandbox.control.calls({ path: T1 });
    expect(call).toMatchObject({ method: 'PUT', status: 500, body: { completed: true } });
  });

  it('When a 429 fault is injected, then the answer carries the X-RateLimit-* headers with Remaining 0 and the extra headers given', async () => {
    await sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '2' } });
    const response = await put();

    expect(response.status).toBe(429);
    expect(response.contract?.documented).toBe(false);
    expect(response.body).toMatchObject({ statusCode: 429 });
    expect(rateHeaders(response.headers)).toEqual({
      max: '10000',
      remaining: '0',
      interval: '10000',
      dailyLimit: '200000',
      dailyRemaining: '200000',
    });
    expect(response.headers.get('retry-after')).toBe('2');
  });

  it('When a fault gives a body, then the answer has that body', async () => {
    await sandbox.control.injectFault({
      status: 401,
      body: {
        statusCode: 401,
        message: 'The token is not authorized for this scope.',
        error: 'Unauthorized',
      },
    });
    const response = await put();

    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ message: 'The token is not authorized for this scope.' });
  });

  it("When a fault gives a body but no status, then the answer is 200 with that body, which GHL's OpenAPI document rejects", async () => {
    await sandbox.control.injectFault({ body: { task: { id: 42, completed: 'yes' } } });
    const response = await fetch(`${sandbox.url}${completePath()}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN_L1}`, version: VERSION, 'content-type': 'application/json' },
      body: JSON.stringify({ completed: true }),
    });
    const body: unknown = await response.json();
    const check = (await loadGhlContract()).checkResponse('PUT', completePath(), response.status, body);

    expect(response.status).toBe(200);
    expect(body).toEqual({ task: { id: 42, completed: 'yes' } });
    // A schema-breaking 200 on purpose: lets the client's GHL_BAD_RESPONSE path be tested.
    expect(check.errors.length).toBeGreaterThan(0);
  });

  it('When a fault has ratio 1 and count 3, then the next 3 matching calls fail and the fault is spent', async () => {
    await sandbox.control.injectFault({ status: 502, ratio: 1, count: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await put()).status);

    expect(statuses).toEqual([502, 502, 502, 200, 200]);
  });

  it('When a fault has ratio 0, then no call fails', async () => {
    await sandbox.control.injectFault({ status: 500, ratio: 0 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i += 1) statuses.add((await put()).status);

    expect([...statuses]).toEqual([200]);
  });

  it('When a fault has ratio 0.25, then about a quarter of 200 calls fail until the faults are cleared', async () => {
    await sandbox.control.injectFault({ status: 500, ratio: 0.25 });
    let failed = 0;
    for (let i = 0; i < 200; i += 1) if ((await put()).status === 500) failed += 1;
    await sandbox.control.clearFaults();

    expect(failed).toBeGreaterThanOrEqual(40);
    expect(failed).toBeLessThanOrEqual(60);
    expect((await put()).status).toBe(200);
  });

  it('When a fault names a task, then only calls for that task fail', async () => {
    await sandbox.control.injectFault({ status: 500, taskId: T2 });

    expect((await put(T1)).status).toBe(200);
    expect((await put(T2)).status).toBe(500);
    expect((await put(T2)).status).toBe(200);
  });

  it('When a fault gives only a latency, then the answer is normal but late', async () => {
    await sandbox.control.injectFault({ latencyMs: 300 });
    const started = performance.now();
    const response = await put();
    const elapsed = performance.now() - started;

    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect((await sandbox.control.getTask(T1))?.completed).toBe(true);
  });

  it('When a fault resets the connection, then the caller gets a socket error and the call is recorded with status 0', async () => {
    await sandbox.control.injectFault({ resetConnection: true });

    const error = await put().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    // undici's "fetch failed" whose cause is the socket closed by the other side (checked by shape:
    // jest's VM realm makes instanceof TypeError fail).
    expect(error).toMatchObject({ message: 'fetch failed', cause: { code: 'UND_ERR_SOCKET' } });
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
    const [call] = await sandbox.control.calls({ path: T1 });
    expect(call?.status).toBe(0);
    expect((await put()).status).toBe(200);
  });

  it('When the faults are cleared, then calls are served normally', async () => {
    await sandbox.control.injectFault({ status: 500, count: 5 });
    await sandbox.control.clearFaults();

    expect((await put()).status).toBe(200);
  });

  it('When a fault is rejected as invalid, then the control client throws', async () => {
    await expect(sandbox.control.injectFault({ ratio: 2 })).rejects.toThrow(/400/);
  });
});

describe('closing with a slow call in flight', () => {
  it('When the sandbox closes while a latency fault holds a call, then close() does not wait for it and the caller gets an error', async () => {
    const local = await startSandbox();
    await resetAndSeed(local.control);
    await local.control.injectFault({ latencyMs: 60_000 });
    const pending = callGhl(local.url, {
      method: 'PUT',
      path: completePath(),
      body: { completed: true },
    }).then(
      () => 'answered',
      () => 'failed',
    );
    // The call is recorded as soon as it arrives, before the fault delays it.
    await waitFor(async () => (await local.control.calls({ method: 'PUT' })).length > 0, {
      description: 'the delayed call to be recorded',
    });

    const started = performance.now();
    await local.close();

    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await pending).toBe('failed');
  });
});

describe('a PUT that GHL applies later (fault applyDelayMs)', () => {
  const putCompleted = (completed: boolean, signal?: AbortSignal) =>
    fetch(`${sandbox.url}${completePath(C1, T1)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN_L1}`, version: VERSION, 'content-type': 'application/json' },
      body: JSON.stringify({ completed }),
      ...(signal !== undefined && { signal }),
    });

  it('When applyDelayMs is given alone, then the answer comes at once with the state to be applied, and the task changes only later', async () => {
    await sandbox.control.injectFault({ taskId: T1, applyDelayMs: 400 });
    const started = performance.now();

    const response = await putCompleted(true);
    const answeredAfter = performance.now() - started;

    expect(response.status).toBe(200);
    expect(((await response.json()) as { task: { completed: boolean } }).task.completed).toBe(true);
    expect(answeredAfter).toBeLessThan(400);
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
    await waitFor(async () => (await sandbox.control.getTask(T1))?.completed === true, {
      description: 'the deferred PUT to land',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  });

  it('When the client gives up on a slow PUT and sends a newer one, then the late PUT lands after the newer one and wins', async () => {
    // The older close: GHL applies it 500 ms after arrival and answers after 5 s (the client has left by then).
    await sandbox.control.injectFault({ taskId: T1, applyDelayMs: 500, latencyMs: 5_000 });
    const older = await putCompleted(true, AbortSignal.timeout(100)).then(
      () => 'answered',
      () => 'timed out',
    );
    expect(older).toBe('timed out');

    // The newer reopen is applied at once…
    const newer = await putCompleted(false);
    expect(newer.status).toBe(200);
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);

    // …and then the older one lands on top of it.
    await waitFor(async () => (await sandbox.control.getTask(T1))?.completed === true, {
      description: 'the late PUT to land after the newer one',
    });
    const calls = await sandbox.control.calls({ path: T1, method: 'PUT' });
    expect(calls.map((call) => call.body)).toEqual([{ completed: true }, { completed: false }]);
  });

  it('When latencyMs is longer than applyDelayMs, then the state changes before the answer is sent', async () => {
    await sandbox.control.injectFault({ taskId: T1, applyDelayMs: 50, latencyMs: 800 });
    let answered = false;
    const pending = putCompleted(true).then(async (response) => {
      answered = true;
      return ((await response.json()) as { task: { completed: boolean } }).task.completed;
    });

    await waitFor(async () => (await sandbox.control.getTask(T1))?.completed === true, {
      description: 'the PUT to be applied',
    });
    expect(answered).toBe(false);
    expect(await pending).toBe(true);
  });

  it('When the PUT is refused (422), then nothing is scheduled and the task stays as it was', async () => {
    await sandbox.control.injectFault({ taskId: T1, applyDelayMs: 10 });

    const response = await fetch(`${sandbox.url}${completePath(C1, T1)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN_L1}`, version: VERSION, 'content-type': 'application/json' },
      body: JSON.stringify({ completed: true, extra: 1 }),
    });

    expect(response.status).toBe(422);
    await response.body?.cancel();
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
  });

  it('When the sandbox closes with an apply still pending, then close() cancels it and leaves no timer behind', async () => {
    const { sandbox: local, state } = await startSandboxWithState();
    await resetAndSeed(local.control);
    await local.control.injectFault({ taskId: T1, applyDelayMs: 60_000 });
    const response = await callGhl(local.url, {
      method: 'PUT',
      path: completePath(),
      body: { completed: true },
    });
    expect(response.status).toBe(200);
    expect(state.pendingApplies).toBe(1);

    const started = performance.now();
    await local.close();

    expect(performance.now() - started).toBeLessThan(5_000);
    expect(state.pendingApplies).toBe(0);
    expect(state.task(T1)?.completed).toBe(false);
  });

  it('When the sandbox is reset with an apply pending, then the apply is dropped', async () => {
    const { sandbox: local, state } = await startSandboxWithState();
    try {
      await resetAndSeed(local.control);
      await local.control.injectFault({ taskId: T1, applyDelayMs: 60_000 });
      await callGhl(local.url, { method: 'PUT', path: completePath(), body: { completed: true } });
      expect(state.pendingApplies).toBe(1);

      await local.control.reset();

      expect(state.pendingApplies).toBe(0);
    } finally {
      await local.close();
    }
  });
});
