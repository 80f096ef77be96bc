import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { loadGhlContract } from '@closeloop/test-support';
import { startSandbox, type RunningSandbox } from '../src/index.js';
import {
  C1,
  C2,
  L1,
  T1,
  T2,
  T3,
  TOKEN_L1,
  TOKEN_L2,
  VERSION,
  callGhl,
  completePath,
  rateHeaders,
  resetAndSeed,
} from './helpers.js';

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

describe('PUT /contacts/:contactId/tasks/:taskId/completed', () => {
  it('When a valid request completes a task, then the sandbox answers 200 with the task and the state changes', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      body: { completed: true },
    });

    expect(response.status).toBe(200);
    expect(response.contract).toMatchObject({ operationId: 'update-task-completed', documented: true });
    expect(response.body).toEqual({
      task: {
        id: T1,
        title: 'Call back',
        body: 'About ZD-4711',
        assignedTo: 'user0000000000000001',
        dueDate: '2026-12-01T10:00:00.000Z',
        completed: true,
        contactId: C1,
      },
    });
    expect(await sandbox.control.getTask(T1)).toMatchObject({ id: T1, locationId: L1, completed: true });
  });

  it('When completed is false, then the task is reopened', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(C1, T2),
      body: { completed: false },
    });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ task: { id: T2, completed: false } });
    expect((await sandbox.control.getTask(T2))?.completed).toBe(false);
  });

  it('When the Version header is missing, then the sandbox answers 401 "version header was not found."', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      version: null,
      body: { completed: true },
    });

    expect(response.status).toBe(401);
    expect(response.contract?.documented).toBe(true);
    expect(response.body).toEqual({
      statusCode: 401,
      message: 'version header was not found.',
      error: 'Unauthorized',
    });
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
  });

  it('When the Version header is not a supported version, then the sandbox answers 401 "version header is invalid"', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      version: '2023-02-21',
      body: { completed: true },
    });

    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      statusCode: 401,
      message: 'version header is invalid',
      error: 'Unauthorized',
    });
  });

  it('When the token is unknown, then the sandbox answers 401 Invalid JWT without rate-limit headers', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: 'pit-not-a-real-token',
      body: { completed: true },
    });

    expect(response.status).toBe(401);
    expect(response.contract?.documented).toBe(true);
    expect(response.body).toEqual({ statusCode: 401, message: 'Invalid JWT', error: 'Unauthorized' });
    expect(response.headers.get('x-ratelimit-remaining')).toBeNull();
  });

  it('When the Authorization header is missing, then the sandbox answers 401 Invalid JWT', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: null,
      body: { completed: true },
    });

    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ statusCode: 401, message: 'Invalid JWT' });
  });

  it('When both the Version header and the token are bad, then the Version check answers first', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: 'unknown',
      version: null,
      body: { completed: true },
    });

    expect(response.body).toMatchObject({ message: 'version header was not found.' });
  });

  it("When the token belongs to another location, then the sandbox answers 403 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: TOKEN_L2,
      body: { completed: true },
    });

    expect(response.status).toBe(403);
    expect(response.contract).toMatchObject({ operationId: 'update-task-completed', documented: false });
    expect(response.body).toEqual({
      statusCode: 403,
      message: 'The token does not have access to this location.',
      error: 'Forbidden',
    });
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
  });

  it("When the contact does not exist, then the sandbox answers 404 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath('noSuchContact0000001', T1),
      body: { completed: true },
    });

    expect(response.status).toBe(404);
    expect(response.contract?.documented).toBe(false);
    expect(response.body).toMatchObject({ statusCode: 404, message: 'Contact not found' });
  });

  it("When the task does not exist, then the sandbox answers 404 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(C1, 'noSuchTask0000000001'),
      body: { completed: true },
    });

    expect(response.status).toBe(404);
    expect(response.contract?.documented).toBe(false);
    expect(response.body).toMatchObject({ statusCode: 404, message: 'Task not found' });
  });

  it('When the task belongs to another contact of the same location, then the sandbox answers 404 and leaves it alone', async () => {
    await sandbox.control.seed({
      contacts: [{ id: 'sameLocContact000001', locationId: L1 }],
    });
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath('sameLocContact000001', T1),
      body: { completed: true },
    });

    expect(response.status).toBe(404);
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
  });

  it('When the body has an unknown property, then the sandbox answers 422 with a message array', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      body: { completed: true, completedAt: '2026-11-28T10:00:00.000Z' },
    });

    expect(response.status).toBe(422);
    expect(response.contract?.documented).toBe(true);
    expect(response.body).toEqual({
      statusCode: 422,
      message: ['property completedAt should not exist'],
      error: 'Unprocessable Entity',
    });
    expect((await sandbox.control.getTask(T1))?.completed).toBe(false);
  });

  it('When completed is not a boolean, then the sandbox answers 422 "completed must be a boolean value"', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      body: { completed: 'yes' },
    });

    expect(response.status).toBe(422);
    expect(response.body).toEqual({
      statusCode: 422,
      message: ['completed must be a boolean value'],
      error: 'Unprocessable Entity',
    });
  });

  it('When the body is empty or not an object, then the sandbox answers 422 because completed is missing', async () => {
    const empty = await callGhl(sandbox.url, { method: 'PUT', path: completePath() });
    const array = await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: [true] });

    expect(empty.status).toBe(422);
    expect(empty.body).toMatchObject({ message: ['completed must be a boolean value'] });
    expect(array.status).toBe(422);
  });

  it('When the body is not valid JSON, then the sandbox answers 400 with a string message', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      rawBody: '{"completed": tru',
    });

    expect(response.status).toBe(400);
    expect(response.contract?.documented).toBe(true);
    expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(typeof (response.body as { message: unknown }).message).toBe('string');
  });

  it('When the body is invalid and the token is unknown, then the token check answers first (401, not 422)', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      token: 'unknown',
      body: { completed: 'nope', extra: 1 },
    });

    expect(response.status).toBe(401);
  });
});

describe('GET task routes', () => {
  it('When a task is read, then the sandbox answers 200 {task} in the TaskSchema shape', async () => {
    const response = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks/${T2}` });

    expect(response.status).toBe(200);
    expect(response.contract).toMatchObject({ operationId: 'get-task', documented: true });
    expect(response.body).toEqual({ task: { id: T2, title: 'Send quote', completed: true, contactId: C1 } });
  });

  it("When a contact's tasks are listed, then the sandbox answers 200 {tasks} with that contact's tasks only", async () => {
    const response = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` });

    expect(response.status).toBe(200);
    expect(response.contract).toMatchObject({ operationId: 'get-all-tasks', documented: true });
    const ids = (response.body as { tasks: { id: string }[] }).tasks.map((task) => task.id).sort();
    expect(ids).toEqual([T1, T2].sort());
  });

  it("When the contact of a task read belongs to another location, then the sandbox answers 403 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C2}/tasks/${T3}` });

    expect(response.status).toBe(403);
    expect(response.contract).toMatchObject({ operationId: 'get-task', documented: false });
  });

  it("When the tasks of an unknown contact are listed, then the sandbox answers 404 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/noSuchContact0000001/tasks',
    });

    expect(response.status).toBe(404);
    expect(response.contract).toMatchObject({ operationId: 'get-all-tasks', documented: false });
  });
});

describe('GET /contacts/search/duplicate', () => {
  it("When the email contains a URL-encoded plus, then the contact is found regardless of case — the 200 has no schema in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { locationId: L1, email: 'test+abc@example.com' }, // URLSearchParams sends test%2Babc%40example.com
    });

    expect(response.status).toBe(200);
    expect(response.contract).toMatchObject({ operationId: 'get-duplicate-contact', documented: true });
    expect(response.body).toEqual({
      contact: {
        id: C1,
        locationId: L1,
        email: 'Test+abc@example.com',
        firstName: 'Ada',
        lastName: 'Lovelace',
      },
    });
  });

  it('When the plus in the email is sent unencoded, then it arrives as a space and nothing is found', async () => {
    const response = await fetch(
      `${sandbox.url}/contacts/search/duplicate?locationId=${L1}&email=test+abc@example.com`,
      { headers: { authorization: `Bearer ${TOKEN_L1}`, version: VERSION } },
    );
    const body: unknown = await response.json();
    const check = (await loadGhlContract()).checkResponse(
      'GET',
      '/contacts/search/duplicate',
      response.status,
      body,
    );

    expect(check.errors).toEqual([]);
    expect(response.status).toBe(200);
    expect(body).toEqual({ contact: null });
  });

  it('When no contact has the email, then the sandbox answers 200 {contact: null}', async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { locationId: L1, email: 'nobody@example.com' },
    });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ contact: null });
  });

  it("When the email belongs to a contact of another location, then the search in the token's location finds nothing", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { locationId: L1, email: 'other@example.com' },
    });

    expect(response.body).toEqual({ contact: null });
  });

  it("When the locationId is not the token's, then the sandbox answers 403 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { locationId: 'otherLocation0000001', email: 'other@example.com' },
    });

    expect(response.status).toBe(403);
    expect(response.contract).toMatchObject({ operationId: 'get-duplicate-contact', documented: false });
    expect(response.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
  });

  it("When locationId is missing, then the sandbox answers 422 with a message array — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    const response = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/search/duplicate',
      query: { email: 'test+abc@example.com' },
    });

    expect(response.status).toBe(422);
    expect(response.contract?.documented).toBe(false);
    expect(response.body).toMatchObject({ statusCode: 422, error: 'Unprocessable Entity' });
    expect(Array.isArray((response.body as { message: unknown }).message)).toBe(true);
  });
});

describe('every answer', () => {
  it('When the token is known, then every answer carries the five X-RateLimit-* headers, whatever its status', async () => {
    const answers = [
      await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { completed: true } }),
      await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body: { foo: 1 } }),
      await callGhl(sandbox.url, { method: 'PUT', path: completePath(), rawBody: 'not json' }),
      await callGhl(sandbox.url, {
        method: 'PUT',
        path: completePath(),
        version: null,
        body: { completed: true },
      }),
      await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C2}/tasks` }),
      await callGhl(sandbox.url, { method: 'GET', path: '/contacts/noSuchContact0000001/tasks' }),
      await callGhl(sandbox.url, { method: 'GET', path: '/no/such/route' }),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([200, 422, 400, 401, 403, 404, 404]);
    for (const answer of answers) {
      expect(Object.values(rateHeaders(answer.headers)).every((value) => value !== null)).toBe(true);
    }
  });

  it('When a route does not exist, then the sandbox answers a NestJS-style 404', async () => {
    const response = await callGhl(sandbox.url, { method: 'GET', path: '/contacts/x/notes/y/z' });

    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      statusCode: 404,
      message: 'Cannot GET /contacts/x/notes/y/z',
      error: 'Not Found',
    });
  });
});

describe('requests as GHL documents them', () => {
  it("When the client sends the documented PUT, then GHL's OpenAPI document accepts it and so does the sandbox", async () => {
    const contract = await loadGhlContract();
    const request = {
      method: 'PUT',
      path: completePath(),
      headers: { authorization: `Bearer ${TOKEN_L1}`, version: VERSION, 'content-type': 'application/json' },
      body: { completed: true },
    };

    expect(contract.checkRequest(request)).toEqual([]);
    const response = await callGhl(sandbox.url, { method: 'PUT', path: request.path, body: request.body });
    expect(response.status).toBe(200);
  });

  it("When the documented GETs are sent, then GHL's OpenAPI document accepts them", async () => {
    const contract = await loadGhlContract();
    const headers = { authorization: `Bearer ${TOKEN_L1}`, version: VERSION };

    expect(contract.checkRequest({ method: 'GET', path: `/contacts/${C1}/tasks/${T1}`, headers })).toEqual(
      [],
    );
    expect(contract.checkRequest({ method: 'GET', path: `/contacts/${C1}/tasks`, headers })).toEqual([]);
    expect(
      contract.checkRequest({
        method: 'GET',
        path: '/contacts/search/duplicate',
        query: { locationId: L1, email: 'test+abc@example.com' },
        headers,
      }),
    ).toEqual([]);
  });

  it("When a body has an unknown property, then GHL's OpenAPI document accepts it but the sandbox answers 422 as the real API does", async () => {
    const contract = await loadGhlContract();
    const body = { completed: true, note: 'x' };

    expect(
      contract.checkRequest({ method: 'PUT', path: completePath(), headers: { version: VERSION }, body }),
    ).toEqual([]);
    const response = await callGhl(sandbox.url, { method: 'PUT', path: completePath(), body });
    expect(response.status).toBe(422);
  });

  it("When the Version header is missing, then GHL's OpenAPI document rejects the request too", async () => {
    const contract = await loadGhlContract();

    expect(
      contract.checkRequest({ method: 'PUT', path: completePath(), headers: {}, body: { completed: true } }),
    ).not.toEqual([]);
  });
});
