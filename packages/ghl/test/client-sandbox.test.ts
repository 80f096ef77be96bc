import { describe, expect, it } from '@jest/globals';
import { startSandbox } from '@closeloop/ghl-sandbox';
import { findFreePort, loadGhlContract } from '@closeloop/test-support';
import { createGhlClient } from '../src/client.js';
import { StaticTokenCredentials, type CredentialsProvider } from '../src/credentials.js';
import { catchGhlError } from './local-server.js';
import { useSharedSandbox } from './shared-sandbox.js';

const SEED = {
  locations: [
    { id: 'loc-a', tokens: ['pit-a'] },
    { id: 'loc-b', tokens: ['pit-b'] },
  ],
  contacts: [
    { id: 'c-a1', locationId: 'loc-a', email: 'test+abc@example.com' },
    { id: 'c-b1', locationId: 'loc-b', email: 'b@example.com' },
  ],
  tasks: [
    { id: 't-a1', contactId: 'c-a1', title: 'Call back', completed: false },
    { id: 't-a2', contactId: 'c-a1', title: 'Send quote', completed: true },
    { id: 't-b1', contactId: 'c-b1', title: 'Other location', completed: false },
  ],
};

const BOTH_LOCATIONS = { 'loc-a': 'pit-a', 'loc-b': 'pit-b' };

// The shared sandbox's burst budget cannot be exhausted; the burst test starts its own small-budget one.
const { sandbox, clientFor } = useSharedSandbox(SEED, BOTH_LOCATIONS);

describe('GHL client against the sandbox: successful calls', () => {
  it('When completeTask(true) succeeds, then GHL received exactly the documented request and the typed task comes back', async () => {
    const result = await clientFor().completeTask({
      locationId: 'loc-a',
      contactId: 'c-a1',
      taskId: 't-a1',
      completed: true,
    });
    expect(result.status).toBe(200);
    expect(result.data).toMatchObject({ id: 't-a1', contactId: 'c-a1', title: 'Call back', completed: true });
    expect((await sandbox.control.getTask('t-a1'))?.completed).toBe(true);

    const calls = await sandbox.control.calls();
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.method).toBe('PUT');
    expect(call?.path).toBe('/contacts/c-a1/tasks/t-a1/completed');
    expect(call?.headers.version).toBe('2021-07-28');
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers.authorization).toBe('Bearer [redacted]');
    expect(call?.tokenLocationId).toBe('loc-a');
    expect(call?.body).toEqual({ completed: true });
  });

  it('When completeTask(false) succeeds, then the task is reopened and the body was exactly {"completed":false}', async () => {
    const result = await clientFor().completeTask({
      locationId: 'loc-a',
      contactId: 'c-a1',
      taskId: 't-a2',
      completed: false,
    });
    expect(result.data.completed).toBe(false);
    expect((await sandbox.control.getTask('t-a2'))?.completed).toBe(false);
    const [call] = await sandbox.control.calls({ method: 'PUT' });
    expect(call?.body).toEqual({ completed: false });
  });

  it('When a call succeeds, then all five rate-limit headers are parsed into the result', async () => {
    const { rateLimit } = await clientFor().getTask({
      locationId: 'loc-a',
      contactId: 'c-a1',
      taskId: 't-a1',
    });
    expect(rateLimit).toEqual({
      max: 10_000,
      remaining: 9_999,
      intervalMs: 10_000,
      dailyLimit: 200_000,
      dailyRemaining: 199_999,
    });
  });

  it('When getTask and listTasks succeed, then they return the typed task and list', async () => {
    const client = clientFor();
    const one = await client.getTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a2' });
    expect(one.data).toMatchObject({ id: 't-a2', completed: true });
    const all = await client.listTasks({ locationId: 'loc-a', contactId: 'c-a1' });
    expect(all.data.map((task) => task.id).sort()).toEqual(['t-a1', 't-a2']);
  });

  it("When findContactByEmail looks up 'test+abc@example.com', then GHL decodes the same address and the contact is found", async () => {
    const result = await clientFor().findContactByEmail({
      locationId: 'loc-a',
      email: 'test+abc@example.com',
    });
    expect(result.data).toMatchObject({ id: 'c-a1', locationId: 'loc-a', email: 'test+abc@example.com' });
    const [call] = await sandbox.control.calls({ path: '/contacts/search/duplicate' });
    // An unencoded '+' would have arrived as a space.
    expect(call?.query).toEqual({ locationId: 'loc-a', email: 'test+abc@example.com' });
  });

  it('When findContactByEmail finds nobody, then data is null', async () => {
    const result = await clientFor().findContactByEmail({ locationId: 'loc-a', email: 'nobody@example.com' });
    expect(result.data).toBeNull();
  });
});

describe('GHL client against the sandbox: each error code', () => {
  it('When the burst limit is spent, then the call throws RATE_LIMITED (retryable) with the rate-limit state', async () => {
    const small = await startSandbox({ burstLimit: 2, burstIntervalMs: 60_000 });
    const client = createGhlClient({ baseUrl: small.url, credentials: new StaticTokenCredentials('pit-a') });
    try {
      await small.control.seed(SEED);
      const task = { locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1' };
      await client.getTask(task);
      await client.getTask(task);
      const error = await catchGhlError(client.getTask(task));
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryable: true, status: 429, method: 'GET' });
      expect(error.rateLimit).toMatchObject({
        max: 2,
        remaining: 0,
        intervalMs: 60_000,
        dailyLimit: 200_000,
      });
    } finally {
      await client.close();
      await small.close();
    }
  });

  it('When GHL answers 429 with Retry-After: 2, then RATE_LIMITED carries retryAfterMs 2000', async () => {
    await sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '2' }, taskId: 't-a1' });
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryable: true, status: 429 });
    expect(error.rateLimit.retryAfterMs).toBe(2_000);
    expect(error.rateLimit.remaining).toBe(0);
  });

  it.each([500, 503])(
    'When GHL answers %i, then the call throws SERVER_ERROR (retryable)',
    async (status) => {
      await sandbox.control.injectFault({ status, taskId: 't-a1' });
      const error = await catchGhlError(
        clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
      );
      expect(error).toMatchObject({ code: 'SERVER_ERROR', retryable: true, status });
      expect(error.body?.statusCode).toBe(status);
    },
  );

  it('When GHL answers slower than the client timeout, then the call throws TIMEOUT (retryable) without a status', async () => {
    await sandbox.control.injectFault({ latencyMs: 3_000, taskId: 't-a1' });
    const error = await catchGhlError(
      clientFor({ timeoutMs: 200 }).completeTask({
        locationId: 'loc-a',
        contactId: 'c-a1',
        taskId: 't-a1',
        completed: true,
      }),
    );
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true, status: undefined, rateLimit: {} });
  });

  it('When GHL resets the connection, then the call throws NETWORK (retryable)', async () => {
    await sandbox.control.injectFault({ resetConnection: true, taskId: 't-a1' });
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'NETWORK', retryable: true, status: undefined });
  });

  it('When nothing listens on the port, then the call throws NETWORK (retryable) naming ECONNREFUSED', async () => {
    const port = await findFreePort();
    const error = await catchGhlError(
      clientFor({ baseUrl: `http://127.0.0.1:${port}` }).getTask({
        locationId: 'loc-a',
        contactId: 'c-a1',
        taskId: 't-a1',
      }),
    );
    expect(error).toMatchObject({ code: 'NETWORK', retryable: true, status: undefined });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it("When GHL answers 400, then the call throws BAD_REQUEST with GHL's string message", async () => {
    await sandbox.control.injectFault({
      status: 400,
      body: { statusCode: 400, message: 'Bad things happened' },
      taskId: 't-a1',
    });
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'BAD_REQUEST', retryable: false, status: 400 });
    expect(error.body?.message).toBe('Bad things happened');
    expect(error.ghlMessages).toEqual(['Bad things happened']);
  });

  it('When the token is unknown to GHL, then the call throws UNAUTHORIZED (not retryable)', async () => {
    const error = await catchGhlError(
      clientFor({ credentials: new StaticTokenCredentials('pit-unknown') }).getTask({
        contactId: 'c-a1',
        taskId: 't-a1',
      }),
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', retryable: false, status: 401 });
    expect(error.body).toMatchObject({ statusCode: 401, message: 'Invalid JWT' });
  });

  it('When the client is configured with a Version GHL does not accept, then the call throws UNAUTHORIZED', async () => {
    const error = await catchGhlError(
      clientFor({ apiVersion: '2023-02-21' }).getTask({
        locationId: 'loc-a',
        contactId: 'c-a1',
        taskId: 't-a1',
      }),
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', retryable: false, status: 401 });
    const [call] = await sandbox.control.calls();
    expect(call?.headers.version).toBe('2023-02-21');
  });

  it('When the token belongs to another location, then the call throws FORBIDDEN (not retryable)', async () => {
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-b', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'FORBIDDEN', retryable: false, status: 403 });
    expect((await sandbox.control.getTask('t-a1'))?.completed).toBe(false);
  });

  it('When the task does not exist, then the call throws NOT_FOUND with the rate-limit state of that response', async () => {
    const error = await catchGhlError(
      clientFor().completeTask({
        locationId: 'loc-a',
        contactId: 'c-a1',
        taskId: 't-missing',
        completed: true,
      }),
    );
    expect(error).toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      status: 404,
      method: 'PUT',
      path: '/contacts/c-a1/tasks/t-missing/completed',
    });
    expect(error.rateLimit).toEqual({
      max: 10_000,
      remaining: 9_999,
      intervalMs: 10_000,
      dailyLimit: 200_000,
      dailyRemaining: 199_999,
    });
  });

  it("When GHL answers 422 to a missing locationId, then the call throws UNPROCESSABLE with GHL's message array", async () => {
    const error = await catchGhlError(
      clientFor({ credentials: new StaticTokenCredentials('pit-a') }).findContactByEmail({
        locationId: '',
        email: 'a@example.com',
      }),
    );
    expect(error).toMatchObject({ code: 'UNPROCESSABLE', retryable: false, status: 422 });
    expect(Array.isArray(error.body?.message)).toBe(true);
    expect(error.ghlMessages).toContain('locationId should not be empty');
    expect(error.message).toContain('locationId should not be empty');
  });

  it("When GHL answers 422 to completeTask, then the call throws UNPROCESSABLE with GHL's message array", async () => {
    const body = {
      statusCode: 422,
      message: ['property foo should not exist'],
      error: 'Unprocessable Entity',
    };
    await sandbox.control.injectFault({ status: 422, body, taskId: 't-a1' });
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'UNPROCESSABLE', retryable: false, status: 422, body });
  });

  it('When GHL answers 200 with a body that does not match the schema, then the call throws BAD_RESPONSE (not retryable)', async () => {
    await sandbox.control.injectFault({ status: 200, body: { task: { id: 42 } }, taskId: 't-a1' });
    const error = await catchGhlError(
      clientFor().completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: false, status: 200 });
    expect(error.message).toContain('task.id');
    expect(error.message).toContain('task.completed');
  });
});

/** A provider whose 401 hook swaps in `next` (as an OAuth refresh would) and reports `refreshed`. */
class SwappingCredentials implements CredentialsProvider {
  token = 'pit-expired';
  readonly rejected: string[] = [];

  constructor(
    private readonly next: string,
    private readonly refreshed = true,
  ) {}

  getToken(): Promise<string> {
    return Promise.resolve(this.token);
  }

  onUnauthorized(_locationId: string | undefined, rejectedToken: string): Promise<boolean> {
    this.rejected.push(rejectedToken);
    this.token = this.next;
    return Promise.resolve(this.refreshed);
  }
}

describe('GHL client against the sandbox: the 401 hook', () => {
  it('When GHL answers 401 and the hook swaps the token, then the hook runs once and the retry succeeds', async () => {
    const credentials = new SwappingCredentials('pit-a');
    const result = await clientFor({ credentials }).completeTask({
      locationId: 'loc-a',
      contactId: 'c-a1',
      taskId: 't-a1',
      completed: true,
    });
    expect(result.data.completed).toBe(true);
    expect(credentials.rejected).toEqual(['pit-expired']);
    expect((await sandbox.control.calls()).map((call) => call.status)).toEqual([401, 200]);
  });

  it('When the retried request gets 401 again, then UNAUTHORIZED is thrown without asking the hook again', async () => {
    const credentials = new SwappingCredentials('pit-still-wrong');
    const error = await catchGhlError(
      clientFor({ credentials }).completeTask({ contactId: 'c-a1', taskId: 't-a1', completed: true }),
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(credentials.rejected).toEqual(['pit-expired']);
    expect((await sandbox.control.calls()).map((call) => call.status)).toEqual([401, 401]);
  });

  it('When the hook says it could not refresh, then UNAUTHORIZED is thrown and nothing is retried', async () => {
    const credentials = new SwappingCredentials('pit-a', false);
    const error = await catchGhlError(
      clientFor({ credentials }).getTask({ contactId: 'c-a1', taskId: 't-a1' }),
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(await sandbox.control.calls()).toHaveLength(1);
  });
});

describe('GHL client against the sandbox: the OpenAPI contract', () => {
  it("When the client makes each of its calls, then every request and every 200 body match GHL's OpenAPI document", async () => {
    const contract = await loadGhlContract();
    const client = clientFor();
    await client.completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: true });
    await client.completeTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a1', completed: false });
    await client.getTask({ locationId: 'loc-a', contactId: 'c-a1', taskId: 't-a2' });
    await client.listTasks({ locationId: 'loc-b', contactId: 'c-b1' });
    await client.findContactByEmail({ locationId: 'loc-a', email: 'test+abc@example.com' });
    await client.findContactByEmail({ locationId: 'loc-a', email: 'nobody@example.com' });

    const calls = await sandbox.control.calls();
    expect(calls).toHaveLength(6);
    for (const call of calls) {
      const { method, path, query, headers, body } = call;
      expect({
        method,
        path,
        problems: contract.checkRequest({ method, path, query, headers, body }),
      }).toEqual({
        method,
        path,
        problems: [],
      });
      expect(call.status).toBe(200);
      const check = contract.checkResponse(method, path, call.status, call.responseBody);
      expect({ method, path, errors: check.errors }).toEqual({ method, path, errors: [] });
    }
  });
});
