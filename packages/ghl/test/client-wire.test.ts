import { describe, expect, it } from '@jest/globals';
import { waitFor } from '@closeloop/test-support';
import { createGhlClient, type GhlClient } from '../src/client.js';
import { StaticTokenCredentials, type CredentialsProvider } from '../src/credentials.js';
import {
  catchGhlError,
  sendJson,
  startLocalServer,
  type LocalServer,
  type WireRequest,
} from './local-server.js';
import type { ServerResponse } from 'node:http';

const TASK = { id: 't1', contactId: 'c1', title: 'Call back', completed: true };

/** A local server plus a client pointed at it, both closed by the caller's `finally`. */
async function setUp(
  answer: (request: WireRequest, res: ServerResponse) => void,
  credentials: CredentialsProvider = new StaticTokenCredentials('pit-wire-token'),
): Promise<{ server: LocalServer; client: GhlClient; close: () => Promise<void> }> {
  const server = await startLocalServer(answer);
  const client = createGhlClient({ baseUrl: server.url, credentials, timeoutMs: 5_000 });
  return {
    server,
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

describe('GHL client on the wire', () => {
  it.each([true, false])(
    'When completeTask(completed: %s) runs, then the request is exactly the documented PUT with only `completed` in the body',
    async (completed) => {
      const { server, client, close } = await setUp((_req, res) =>
        sendJson(res, 200, { task: { ...TASK, completed } }),
      );
      try {
        const result = await client.completeTask({
          contactId: 'c1',
          taskId: 't1',
          completed,
          locationId: 'loc-1',
        });
        expect(result.data.completed).toBe(completed);
        expect(server.requests).toHaveLength(1);
        const [request] = server.requests;
        expect(request?.method).toBe('PUT');
        expect(request?.rawUrl).toBe('/contacts/c1/tasks/t1/completed');
        expect(request?.rawBody).toBe(JSON.stringify({ completed }));
        expect(request?.headers.version).toBe('2021-07-28');
        expect(request?.headers.authorization).toBe('Bearer pit-wire-token');
        expect(request?.headers['content-type']).toBe('application/json');
        expect(request?.headers.accept).toBe('application/json');
      } finally {
        await close();
      }
    },
  );

  it("When findContactByEmail gets 'test+abc@example.com', then '+' and '@' are percent-encoded in the query", async () => {
    const { server, client, close } = await setUp((_req, res) => sendJson(res, 200, { contact: null }));
    try {
      const result = await client.findContactByEmail({ locationId: 'loc 1', email: 'test+abc@example.com' });
      expect(result.data).toBeNull();
      expect(server.requests[0]?.rawUrl).toBe(
        '/contacts/search/duplicate?locationId=loc%201&email=test%2Babc%40example.com',
      );
      expect(server.requests[0]?.headers['content-type']).toBeUndefined();
    } finally {
      await close();
    }
  });

  it("When an id contains '/', '?', '#' or '%', then it stays one encoded path segment", async () => {
    const { server, client, close } = await setUp((_req, res) => sendJson(res, 200, { task: TASK }));
    try {
      await client.completeTask({ contactId: 'a/b?c#d', taskId: 'x%y', completed: true });
      expect(server.requests[0]?.rawUrl).toBe('/contacts/a%2Fb%3Fc%23d/tasks/x%25y/completed');
    } finally {
      await close();
    }
  });

  it.each(['', '.', '..'])(
    "When an id is '%s', then completeTask throws INVALID_REQUEST and sends nothing (it would change the path)",
    async (contactId) => {
      const { server, client, close } = await setUp((_req, res) => sendJson(res, 200, { task: TASK }));
      try {
        const error = await catchGhlError(client.completeTask({ contactId, taskId: 't1', completed: true }));
        expect(error.code).toBe('INVALID_REQUEST');
        expect(error.retryable).toBe(false);
        expect(error.status).toBeUndefined();
        expect(error.path).toBe('/contacts/{contactId}/tasks/{taskId}/completed');
        expect(server.requests).toHaveLength(0);
      } finally {
        await close();
      }
    },
  );

  it('When two calls run one after the other, then they share one keep-alive connection, and close() releases it', async () => {
    const { server, client, close } = await setUp((_req, res) => sendJson(res, 200, { task: TASK }));
    try {
      await client.getTask({ contactId: 'c1', taskId: 't1' });
      await client.getTask({ contactId: 'c1', taskId: 't1' });
      expect(server.openSockets() + server.closedSockets()).toBe(1);
      await client.close();
      await waitFor(() => server.closedSockets() === 1, { description: 'the keep-alive socket to close' });
    } finally {
      await close();
    }
  });

  it('When GHL answers 200 with HTML, then the call throws BAD_RESPONSE (not retryable)', async () => {
    const { client, close } = await setUp((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    try {
      const error = await catchGhlError(client.getTask({ contactId: 'c1', taskId: 't1' }));
      expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: false, status: 200, method: 'GET' });
      expect(error.message).toContain('not JSON');
    } finally {
      await close();
    }
  });

  it('When a proxy answers 502 with an HTML page, then the call throws SERVER_ERROR (retryable) without a body', async () => {
    const { client, close } = await setUp((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html', 'retry-after': '7' });
      res.end('<html>Bad Gateway</html>');
    });
    try {
      const error = await catchGhlError(client.listTasks({ contactId: 'c1' }));
      expect(error).toMatchObject({ code: 'SERVER_ERROR', retryable: true, status: 502, body: undefined });
      expect(error.rateLimit).toEqual({ retryAfterMs: 7_000 });
    } finally {
      await close();
    }
  });

  it('When GHL answers an undocumented 4xx such as 409, then the call throws BAD_REQUEST (not retryable)', async () => {
    const { client, close } = await setUp((_req, res) =>
      sendJson(res, 409, { statusCode: 409, message: 'Conflict', error: 'Conflict' }),
    );
    try {
      const error = await catchGhlError(client.listTasks({ contactId: 'c1' }));
      expect(error).toMatchObject({ code: 'BAD_REQUEST', retryable: false, status: 409 });
    } finally {
      await close();
    }
  });

  it('When GHL answers a redirect, then it is not followed (the token is not replayed) and the call throws BAD_RESPONSE', async () => {
    const elsewhere = await startLocalServer((_req, res) => sendJson(res, 200, { task: TASK }));
    const { client, close } = await setUp((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/steal` });
      res.end();
    });
    try {
      const error = await catchGhlError(client.getTask({ contactId: 'c1', taskId: 't1' }));
      expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: false, status: 302 });
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await close();
      await elsewhere.close();
    }
  });

  it('When an error body echoes the token, then the token is redacted from the message and the body', async () => {
    const { client, close } = await setUp((req, res) =>
      sendJson(res, 400, { statusCode: 400, message: `bad header ${String(req.headers.authorization)}` }),
    );
    try {
      const error = await catchGhlError(client.listTasks({ contactId: 'c1' }));
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.message).toContain('bad header Bearer [redacted]');
      expect(JSON.stringify(error)).not.toContain('pit-wire-token');
    } finally {
      await close();
    }
  });

  it('When the provider has no token for the location, then the call throws NO_CREDENTIALS without a status and sends nothing', async () => {
    const { server, client, close } = await setUp(
      (_req, res) => sendJson(res, 200, { task: TASK }),
      new StaticTokenCredentials({ 'loc-a': 'pit-a' }),
    );
    try {
      const error = await catchGhlError(
        client.completeTask({ locationId: 'loc-unknown', contactId: 'c1', taskId: 't1', completed: true }),
      );
      expect(error).toMatchObject({ code: 'NO_CREDENTIALS', retryable: false, status: undefined });
      expect(error.message).toContain('loc-unknown');
      expect(server.requests).toHaveLength(0);
    } finally {
      await close();
    }
  });

  it('When the token contains a line break, then the call throws NO_CREDENTIALS, sends nothing and does not echo it', async () => {
    const { server, client, close } = await setUp(
      (_req, res) => sendJson(res, 200, { task: TASK }),
      new StaticTokenCredentials('pit-line\nbreak'),
    );
    try {
      const error = await catchGhlError(client.getTask({ contactId: 'c1', taskId: 't1' }));
      expect(error).toMatchObject({ code: 'NO_CREDENTIALS', retryable: false, status: undefined });
      expect(error.message).not.toContain('pit-line');
      expect(server.requests).toHaveLength(0);
    } finally {
      await close();
    }
  });

  it("When the provider itself fails, then the provider's own error reaches the caller unchanged", async () => {
    const failure = new Error('token store unreachable');
    const { server, client, close } = await setUp((_req, res) => sendJson(res, 200, { task: TASK }), {
      getToken: () => Promise.reject(failure),
    });
    try {
      await expect(client.getTask({ contactId: 'c1', taskId: 't1' })).rejects.toBe(failure);
      expect(server.requests).toHaveLength(0);
    } finally {
      await close();
    }
  });

  it("When the caller's signal aborts a call in flight, then it fails at once with ABORTED (retryable, no status) and the client still works", async () => {
    let answerLater: (() => void) | undefined;
    const { server, client, close } = await setUp((request, res) => {
      if (request.rawUrl.includes('slow')) answerLater = () => sendJson(res, 200, { task: TASK });
      else sendJson(res, 200, { task: TASK });
    });
    try {
      const controller = new AbortController();
      const call = catchGhlError(
        client.getTask({ contactId: 'c1', taskId: 'slow', signal: controller.signal }),
      );
      await waitFor(() => server.requests.length === 1, { description: 'the call to reach the server' });
      controller.abort();
      const error = await call;
      expect(error).toMatchObject({ code: 'ABORTED', retryable: true, status: undefined });
      // An already aborted signal sends nothing at all.
      const early = await catchGhlError(
        client.getTask({ contactId: 'c1', taskId: 't1', signal: controller.signal }),
      );
      expect(early.code).toBe('ABORTED');
      expect(server.requests).toHaveLength(1);
      expect((await client.getTask({ contactId: 'c1', taskId: 't1' })).status).toBe(200);
    } finally {
      answerLater?.();
      await close();
    }
  });

  it('When calls end, then onCall gets one record each with the operation name, status, code and duration, and a throwing observer changes nothing', async () => {
    const server = await startLocalServer((request, res) =>
      request.rawUrl.includes('missing')
        ? sendJson(res, 404, { statusCode: 404, message: 'Task not found' })
        : sendJson(res, 200, { task: TASK }),
    );
    const records: unknown[] = [];
    const client = createGhlClient({
      baseUrl: server.url,
      credentials: new StaticTokenCredentials({ 'loc-a': 'pit-a' }),
      onCall: (call) => {
        records.push(call);
        throw new Error('observer bug');
      },
    });
    try {
      await client.completeTask({ locationId: 'loc-a', contactId: 'c1', taskId: 't1', completed: true });
      await catchGhlError(client.getTask({ locationId: 'loc-a', contactId: 'c1', taskId: 'missing' }));
      await catchGhlError(client.getTask({ locationId: 'loc-b', contactId: 'c1', taskId: 't1' }));

      expect(records).toEqual([
        {
          method: 'PUT',
          operation: 'completeTask',
          status: 200,
          code: undefined,
          durationMs: expect.any(Number),
        },
        {
          method: 'GET',
          operation: 'getTask',
          status: 404,
          code: 'NOT_FOUND',
          durationMs: expect.any(Number),
        },
        {
          method: 'GET',
          operation: 'getTask',
          status: undefined,
          code: 'NO_CREDENTIALS',
          durationMs: expect.any(Number),
        },
      ]);
      expect(JSON.stringify(records)).not.toContain('t1');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('When GHL sends null for empty task fields, then the task still validates', async () => {
    const { client, close } = await setUp((_req, res) =>
      sendJson(res, 200, { tasks: [{ ...TASK, assignedTo: null, body: null, extra: 1 }] }),
    );
    try {
      const result = await client.listTasks({ contactId: 'c1' });
      expect(result.data).toEqual([{ ...TASK, assignedTo: null, body: null, extra: 1 }]);
      expect(result.status).toBe(200);
    } finally {
      await close();
    }
  });
});
