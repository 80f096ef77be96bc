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
