import { describe, expect, it } from '@jest/globals';
import { loadGhlContract } from '@closeloop/test-support';
import type { GhlCallRecord } from '../src/client.js';
import { StaticTokenCredentials } from '../src/credentials.js';
import { catchGhlError } from './local-server.js';
import { useSharedSandbox } from './shared-sandbox.js';

const SEED = {
  locations: [
    { id: 'loc-a', tokens: ['pit-a'] },
    { id: 'loc-b', tokens: ['pit-b'] },
  ],
  contacts: [
    { id: 'c-a1', locationId: 'loc-a', email: 'Test+abc@example.com', firstName: 'Ada' },
    { id: 'c-a2', locationId: 'loc-a' },
    { id: 'c-b1', locationId: 'loc-b' },
  ],
  tasks: [
    {
      id: 't-a1',
      contactId: 'c-a1',
      title: 'Call back about ZD-4711',
      body: 'b1',
      dueDate: '2026-01-02T00:00:00.000Z',
    },
    {
      id: 't-a2',
      contactId: 'c-a1',
      title: 'Send quote',
      completed: true,
      dueDate: '2026-01-03T00:00:00.000Z',
    },
    {
      id: 't-a3',
      contactId: 'c-a2',
      title: 'zd-4711 again',
      assignedTo: 'u1',
      dueDate: '2026-01-01T00:00:00.000Z',
    },
    { id: 't-b1', contactId: 'c-b1', title: 'ZD-4711 elsewhere' },
  ],
};

const { sandbox, clientFor } = useSharedSandbox(SEED, { 'loc-a': 'pit-a', 'loc-b': 'pit-b' });

describe('searchTasks against the sandbox', () => {
  it("When the location's tasks are searched, then each comes back with `id` (from GHL's `_id`), in GHL's order, with the rate limit", async () => {
    const result = await clientFor().searchTasks({ locationId: 'loc-a' });

    expect(result.status).toBe(201);
    expect(result.data.map((task) => task.id)).toEqual(['t-a3', 't-a1', 't-a2']);
    expect(result.data[1]).toMatchObject({
      id: 't-a1',
      _id: 't-a1',
      completed: false,
      contactId: 'c-a1',
      title: 'Call back about ZD-4711',
      body: 'b1',
      contactDetails: { firstName: 'Ada' },
    });
    expect(result.rateLimit).toMatchObject({ max: 10_000, remaining: 9_999 });
  });

  it('When every filter is given, then the body is exactly the DTO fields given, in its order, with the Version header', async () => {
    const result = await clientFor().searchTasks({
      locationId: 'loc-a',
      query: 'zd-4711',
      completed: false,
      contactIds: ['c-a1', 'c-a2'],
      assignedTo: ['u1'],
      limit: 10,
      skip: 0,
    });

    expect(result.data.map((task) => task.id)).toEqual(['t-a3']);
    const [call] = await sandbox.control.calls({ method: 'POST' });
    expect(call?.path).toBe('/locations/loc-a/tasks/search');
    expect(call?.headers.version).toBe('2021-07-28');
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.tokenLocationId).toBe('loc-a');
    expect(JSON.stringify(call?.body)).toBe(
      '{"contactId":["c-a1","c-a2"],"completed":false,"assignedTo":["u1"],"query":"zd-4711","limit":10,"skip":0}',
    );
  });

  it('When nothing but the location is given, then the body is {} and GHL applies its defaults', async () => {
    await clientFor().searchTasks({ locationId: 'loc-a' });

    const [call] = await sandbox.control.calls({ method: 'POST' });
    expect(call?.body).toEqual({});
  });

  it("When the client sends its search, then GHL's locations document accepts the request", async () => {
    const contract = await loadGhlContract();
    await clientFor().searchTasks({
      locationId: 'loc-a',
      query: 'ZD-4711',
      completed: true,
      limit: 100,
      skip: 25,
    });

    const [call] = await sandbox.control.calls({ method: 'POST' });
    expect(call).toBeDefined();
    if (!call) return;
    expect(contract.operationFor('POST', call.path).operationId).toBe('task-search');
    expect(
      contract.checkRequest({ method: 'POST', path: call.path, headers: call.headers, body: call.body }),
    ).toEqual([]);
  });

  it('When the observer is set, then the call is reported as operation searchTasks', async () => {
    const records: GhlCallRecord[] = [];
    await clientFor({ onCall: (record) => records.push(record) }).searchTasks({ locationId: 'loc-a' });

    expect(records).toMatchObject([
      { method: 'POST', operation: 'searchTasks', status: 201, code: undefined },
    ]);
  });
});

describe('searchTasks errors', () => {
  it("When the token is another location's, then FORBIDDEN (403)", async () => {
    const client = clientFor({ credentials: new StaticTokenCredentials({ 'loc-b': 'pit-a' }) });

    const error = await catchGhlError(client.searchTasks({ locationId: 'loc-b' }));

    expect(error).toMatchObject({ code: 'FORBIDDEN', status: 403, retryable: false, method: 'POST' });
  });

  it('When GHL refuses the body, then UNPROCESSABLE with its messages', async () => {
    const error = await catchGhlError(clientFor().searchTasks({ locationId: 'loc-a', limit: 501 }));

    expect(error).toMatchObject({ code: 'UNPROCESSABLE', status: 422 });
    expect(error.ghlMessages).toEqual(['limit must not be greater than 500']);
  });

  it('When the token is unknown, then UNAUTHORIZED', async () => {
    const client = clientFor({ credentials: new StaticTokenCredentials({ 'loc-a': 'pit-unknown' }) });

    expect(await catchGhlError(client.searchTasks({ locationId: 'loc-a' }))).toMatchObject({
      code: 'UNAUTHORIZED',
      status: 401,
    });
  });

  it('When GHL answers 429, then RATE_LIMITED with the rate-limit state parsed', async () => {
    await sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '3' } });

    const error = await catchGhlError(clientFor().searchTasks({ locationId: 'loc-a' }));

    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryable: true });
    expect(error.rateLimit).toMatchObject({ remaining: 0, retryAfterMs: 3_000 });
  });

  it("When GHL answers in the spec's own shape (tasks as arrays), then BAD_RESPONSE", async () => {
    await sandbox.control.injectFault({ body: { tasks: [['t-a1']] } });

    const error = await catchGhlError(clientFor().searchTasks({ locationId: 'loc-a' }));

    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 200, retryable: false });
  });

  it('When a task has neither id nor _id, then BAD_RESPONSE', async () => {
    await sandbox.control.injectFault({ status: 201, body: { tasks: [{ title: 'x', completed: false }] } });

    expect(await catchGhlError(clientFor().searchTasks({ locationId: 'loc-a' }))).toMatchObject({
      code: 'BAD_RESPONSE',
    });
  });

  it('When limit, skip or the location would make an invalid request, then INVALID_REQUEST and nothing is sent', async () => {
    const client = clientFor();
    const records: GhlCallRecord[] = [];
    const observed = clientFor({ onCall: (record) => records.push(record) });

    expect(await catchGhlError(client.searchTasks({ locationId: 'loc-a', limit: 0 }))).toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(await catchGhlError(client.searchTasks({ locationId: 'loc-a', skip: 1.5 }))).toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(await catchGhlError(observed.searchTasks({ locationId: '..' }))).toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(records).toMatchObject([{ operation: 'searchTasks', code: 'INVALID_REQUEST', status: undefined }]);
    expect(await sandbox.control.calls()).toHaveLength(0);
  });

  it('When the signal has already aborted, then ABORTED and nothing is sent', async () => {
    const error = await catchGhlError(
      clientFor().searchTasks({ locationId: 'loc-a', signal: AbortSignal.abort() }),
    );

    expect(error).toMatchObject({ code: 'ABORTED' });
    expect(await sandbox.control.calls()).toHaveLength(0);
  });
});

describe('the other lookups', () => {
  it('When findContactByEmail gets another case of the address, then the contact is found (GHL matches emails ignoring case)', async () => {
    const result = await clientFor().findContactByEmail({
      locationId: 'loc-a',
      email: 'TEST+ABC@example.com',
    });

    expect(result.data).toMatchObject({ id: 'c-a1' });
  });

  it("When listTasks is called for a contact, then all of that contact's tasks come back", async () => {
    const result = await clientFor().listTasks({ locationId: 'loc-a', contactId: 'c-a1' });

    expect(result.data.map((task) => task.id).sort()).toEqual(['t-a1', 't-a2']);
  });
});
