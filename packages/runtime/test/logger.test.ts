import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { REDACTED_PATHS, createLogger } from '../src/index.js';

function collect(): { stream: Writable & { write: (chunk: string) => boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

describe('createLogger', () => {
  it('When a line is logged as json, then it is one object naming the service, at the level asked', () => {
    const sink = collect();
    const logger = createLogger({ service: 'receiver', level: 'warn', destination: sink.stream });
    logger.info('not shown');
    logger.warn({ jobId: 'j1' }, 'shown');

    const lines = sink.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 40,
      service: 'receiver',
      jobId: 'j1',
      msg: 'shown',
    });
  });

  it('When credentials are logged by mistake, at the top level or one level down, then none of them appears', () => {
    const sink = collect();
    const logger = createLogger({ service: 'worker', level: 'info', destination: sink.stream });
    const secrets = {
      token: 's-token',
      tokens: { loc: 's-tokens' },
      password: 's-password',
      apiKey: 's-apikey',
      secret: 's-secret',
      secrets: ['s-secrets'],
      authorization: 's-authorization',
      headers: {
        authorization: 's-h-authorization',
        cookie: 's-h-cookie',
        'set-cookie': 's-h-set-cookie',
        'webhook-signature': 's-h-signature',
        'webhook-id': 'msg_kept',
      },
    };
    logger.info(secrets, 'top level');
    logger.info({ req: secrets, ghl: { token: 's-ghl-token' } }, 'one level down');

    const text = sink.text();
    expect(text).not.toMatch(/s-/);
    expect(text).toContain('msg_kept');
    expect(text.match(/\[redacted\]/g)?.length).toBe(2 * 11 + 1);
    expect(REDACTED_PATHS).toContain('*.headers["webhook-signature"]');
  });

  it("When a credential is in a child logger's fields or on an error, then it is redacted there too, and the error keeps its message", () => {
    const sink = collect();
    const logger = createLogger({ service: 'worker', level: 'info', destination: sink.stream });
    const child = logger
      .child({ locationId: 'loc-1', token: 's-child-token' })
      .child({ jobId: 'job-1', headers: { cookie: 's-grandchild-cookie' } });
    const error = Object.assign(new Error('GHL answered 401'), { apiKey: 's-err-key', status: 401 });
    child.warn({ err: error, ghl: { status: 401, headers: { authorization: 's-auth' } } }, 'refused');

    const line = JSON.parse(sink.text().trim()) as { err: { stack?: unknown } };
    expect(sink.text()).not.toMatch(/s-(child|grandchild|err|auth)/);
    expect(line).toMatchObject({
      locationId: 'loc-1',
      token: '[redacted]',
      jobId: 'job-1',
      headers: { cookie: '[redacted]' },
      err: { type: 'Error', message: 'GHL answered 401', apiKey: '[redacted]', status: 401 },
      ghl: { status: 401, headers: { authorization: '[redacted]' } },
    });
    expect(String(line.err.stack)).toContain('GHL answered 401');
  });

  it('When the format is pretty, then lines are for people, not JSON, and still redacted', () => {
    const sink = collect();
    const logger = createLogger({
      service: 'worker',
      level: 'info',
      format: 'pretty',
      destination: sink.stream,
    });
    logger.info({ token: 's-token' }, 'worker started');

    const text = sink.text();
    expect(text).toContain('worker started');
    expect(text).toContain('INFO');
    expect(text).not.toContain('s-token');
    expect(() => JSON.parse(text.split('\n')[0] ?? '') as unknown).toThrow();
  });
});
