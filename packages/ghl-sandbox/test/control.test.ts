import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { CallLog } from '../src/call-log.js';
import { startSandbox, type RecordedCall, type RunningSandbox } from '../src/index.js';
import { C1, L1, T1, TOKEN_L1, TOKEN_L2, callGhl, completePath, resetAndSeed } from './helpers.js';

let sandbox: RunningSandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
});

afterAll(async () => {
  await sandbox.close();
});

beforeEach(async () => {
  await resetAndSeed(sandbox.control);
});

describe('control API', () => {
  it('When a task is seeded again with the same id, then it is replaced and other data stays', async () => {
    await sandbox.control.seed({ tasks: [{ id: T1, contactId: C1, title: 'Replaced', completed: true }] });

    expect(await sandbox.control.getTask(T1)).toEqual({
      id: T1,
      contactId: C1,
      locationId: L1,
      title: 'Replaced',
      completed: true,
    });
    expect(await sandbox.control.getTask('secondTask0000000001')).toBeDefined();
  });

  it('When a location is seeded again with new tokens, then its old tokens stop working', async () => {
    await sandbox.control.seed({ locations: [{ id: L1, tokens: ['pit-rotated'] }] });

    const old = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    const rotated = await callGhl(sandbox.url, {
      method: 'GET',
      path: `/contacts/${C1}/tasks`,
      token: 'pit-rotated',
    });

    expect(old.status).toBe(401);
    expect(rotated.status).toBe(200);
  });

  it('When a seed is invalid or a task refers to an unknown contact, then seed() throws and nothing changes', async () => {
    await expect(sandbox.control.seed({ tasks: [{ id: '', contactId: C1 }] })).rejects.toThrow(/400/);
    await expect(
      sandbox.control.seed({
        locations: [{ id: 'newLocation', tokens: ['pit-new'] }],
        tasks: [{ id: 'orphan', contactId: 'noSuchContact' }],
      }),
    ).rejects.toThrow(/unknown contact/);

    expect(await sandbox.control.getTask('orphan')).toBeUndefined();
    const probe = await callGhl(sandbox.url, {
      method: 'GET',
      path: `/contacts/${C1}/tasks`,
      token: 'pit-new',
    });
    expect(probe.status).toBe(401);
  });

  it('When a task does not exist, then getTask gives undefined', async () => {
    expect(await sandbox.control.getTask('noSuchTask')).toBeUndefined();
  });

  it("When GHL calls are made, then each is recorded with method, path, query, body, status, answer and the token's location", async () => {
    await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { completed: true } });
    await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { locationId: L1, email: 'test+abc@example.com' },
    });

    const calls = await sandbox.control.calls();
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      method: 'PUT',
      path: completePath(),
      query: {},
      tokenLocationId: L1,
      body: { completed: true },
      status: 200,
      responseBody: { task: { id: T1, completed: true } },
    });
    expect(calls[0]?.headers).toMatchObject({ version: '2021-07-28', 'content-type': 'application/json' });
    expect(Number.isNaN(Date.parse(calls[0]?.at ?? ''))).toBe(false);
    expect(calls[1]?.query).toEqual({ locationId: L1, email: 'test+abc@example.com' });
  });

  it('When calls are filtered by path or method, then only the matching calls come back', async () => {
    await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { completed: true } });
    await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks/${T1}` });
    await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });

    expect(await sandbox.control.calls({ method: 'put' })).toHaveLength(1);
    expect(await sandbox.control.calls({ path: T1 })).toHaveLength(2);
    expect(await sandbox.control.calls({ path: completePath(), method: 'GET' })).toHaveLength(0);
  });

  it('When a call carries a token, then the log shows "Bearer [redacted]" and never the token, known or not', async () => {
    await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { completed: true } });
    await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: TOKEN_L2,
      body: { completed: true },
    });
    await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: 'pit-typo-secret',
      body: { completed: true },
    });
    await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: null,
      body: { completed: true },
    });

    const calls = await sandbox.control.calls();
    const serialized = JSON.stringify(calls);
    expect(serialized).not.toContain(TOKEN_L1);
    expect(serialized).not.toContain(TOKEN_L2);
    expect(serialized).not.toContain('pit-typo-secret');
    expect(calls.map((call) => call.headers.authorization)).toEqual([
      'Bearer [redacted]',
      'Bearer [redacted]',
      'Bearer [redacted]',
      undefined,
    ]);
    expect(calls.map((call) => call.tokenLocationId)).toEqual([
      L1,
      'otherLocation0000001',
      undefined,
      undefined,
    ]);
  });

  it('When the body is not JSON, then the call is recorded with the raw text', async () => {
    await callGhl(sandbox.url, { method: 'PUT', path: completePath(), rawBody: 'completed=true' });

    const [call] = await sandbox.control.calls();
    expect(call).toMatchObject({ body: 'completed=true', status: 400 });
  });

  it('When the control API is used, then it is neither recorded nor rate-limited', async () => {
    for (let i = 0; i < 5; i += 1) await sandbox.control.getTask(T1);

    expect(await sandbox.control.calls()).toEqual([]);
    const response = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    expect(response.headers.get('x-ratelimit-remaining')).toBe('99');
  });

  it('When calls are cleared, then the log is empty and later calls are recorded again', async () => {
    await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    await sandbox.control.clearCalls();
    expect(await sandbox.control.calls()).toEqual([]);

    await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    expect(await sandbox.control.calls()).toHaveLength(1);
  });

  it('When the sandbox is reset, then data, calls, faults and rate counters are gone', async () => {
    await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { completed: true } });
    await sandbox.control.injectFault({ status: 500, count: 10 });
    await sandbox.control.reset();

    expect(await sandbox.control.getTask(T1)).toBeUndefined();
    expect(await sandbox.control.calls()).toEqual([]);
    const afterReset = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    expect(afterReset.status).toBe(401); // no fault any more, and no token is known
    await sandbox.control.seed({
      locations: [{ id: L1, tokens: [TOKEN_L1] }],
      contacts: [{ id: C1, locationId: L1 }],
    });
    const seededAgain = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });
    expect(seededAgain.headers.get('x-ratelimit-remaining')).toBe('99');
  });
});

describe('call log', () => {
  const call = (path: string): RecordedCall => ({
    at: new Date().toISOString(),
    method: 'GET',
    path,
    query: {},
    headers: {},
    body: undefined,
    status: 200,
    responseBody: undefined,
  });

  it('When more calls arrive than the log holds, then only the most recent ones are kept, oldest first', () => {
    const log = new CallLog(3);
    for (const path of ['/a', '/b', '/c', '/d', '/e']) log.push(call(path));

    expect(log.list().map((entry) => entry.path)).toEqual(['/c', '/d', '/e']);
  });
});
