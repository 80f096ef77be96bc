import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CredentialsKey } from '@closeloop/credentials';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import fc from 'fast-check';
import { startTestReceiver, type TestReceiver } from './helpers.js';
import { expectStillHealthyAtTheEnd, judgeAnswer, runs, sendRaw, weirdKey } from './fuzz-support.js';

/**
 * GET /oauth/callback, fuzzed against a real receiver, Redis and the GHL sandbox's token endpoint
 * (which knows no code here, so every exchange is refused as GHL would refuse it). Query strings
 * are sent as raw bytes: repeated and nested `code` parameters, broken percent-encodings, odd
 * unicode, prototype keys. Every answer is a 4xx in the error shape; nothing is stored.
 */

const CLIENT_ID = '66a0c0ffee0000000000000b-fuzz01';
const CLIENT_SECRET = 'receiver-fuzz-client-secret-7d2e1f';
const REDIRECT_URI = 'https://closeloop.example/oauth/callback';

let sandbox: RunningSandbox;
let receiver: TestReceiver;

beforeAll(async () => {
  sandbox = await startSandbox();
  await sandbox.control.seed({
    oauth: { apps: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI }] },
  });
  receiver = await startTestReceiver({
    GHL_CLIENT_ID: CLIENT_ID,
    GHL_CLIENT_SECRET: CLIENT_SECRET,
    GHL_REDIRECT_URI: REDIRECT_URI,
    GHL_BASE_URL: sandbox.url,
    CREDENTIALS_KEY: CredentialsKey.generate(),
  });
});

afterAll(async () => {
  await receiver?.close();
  await sandbox?.close();
});

/** Every byte of the text's UTF-8 (a lone surrogate becomes U+FFFD's) as a %XX escape. */
const percentEncoded = (text: string): string =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

/** Bytes of a query component: printable ASCII, percent-escapes (broken ones too), raw UTF-8 of odd code points. */
const component = fc
  .array(
    fc.oneof(
      fc.string({ unit: fc.constantFrom(..."aZ09-._~!$&'()*+,;=:@/?[]"), maxLength: 12 }),
      fc.constantFrom(
        '%',
        '%4',
        '%zz',
        '%00',
        '%ff',
        '%ED%A0%80',
        '%C3%28',
        '%E2%82',
        '%25',
        '%26code%3D1',
        '+',
      ),
      fc.string({ unit: 'binary', maxLength: 4 }).map(percentEncoded),
      fc.string({ unit: 'binary', maxLength: 4 }).map((text) => Buffer.from(text, 'utf8').toString('latin1')),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

const parameter = fc.oneof(
  fc.tuple(fc.constantFrom('code', 'code[]', 'code[a]', 'code[__proto__]', 'CODE', 'code '), component),
  fc.tuple(fc.oneof(weirdKey.map(percentEncoded), component), component),
);

const query = fc.oneof(
  fc
    .array(parameter, { maxLength: 5 })
    .map((pairs) => pairs.map(([key, value]) => `${key}=${value}`).join('&')),
  component,
  fc.constantFrom('', 'code', 'code=', '&&&', '=', 'code=a&code=b', `code=${'x'.repeat(5_000)}`, 'code=%'),
);

describe('fuzz: GET /oauth/callback', () => {
  it('When the query is anything but a code GHL accepts, then 400 BAD_REQUEST or OAUTH_EXCHANGE_FAILED (404 for a path Express cannot route)', async () => {
    await fc.assert(
      fc.asyncProperty(query, fc.constantFrom('GET', 'HEAD', 'POST'), async (text, method) => {
        const answer = await sendRaw(
          receiver.url,
          Buffer.from(
            `${method} /oauth/callback?${text} HTTP/1.1\r\nHost: ${new URL(receiver.url).host}\r\n` +
              `Connection: close\r\n${method === 'POST' ? 'Content-Length: 0\r\n' : ''}\r\n`,
            'latin1',
          ),
        );
        if (method === 'HEAD') {
          // No body to judge: the status alone (405 keeps the single-use code unspent).
          expect([400, 405]).toContain(answer.status);
          return;
        }
        const error = judgeAnswer(answer);
        if (method === 'POST') expect(error?.code).toMatch(/^(METHOD_NOT_ALLOWED|BAD_REQUEST)$/);
        else expect(error?.code).toMatch(/^(BAD_REQUEST|OAUTH_EXCHANGE_FAILED|NOT_FOUND)$/);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      runs(80),
    );
    // Nothing was installed: the credential store holds no location.
    const keys = await receiver.redis.keys(`${receiver.prefix}:*`);
    expect(keys.filter((key) => /cred|install|token/i.test(key))).toEqual([]);
  });
});

expectStillHealthyAtTheEnd(() => receiver);
