import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  EXAMPLE_TASK_EVENT,
  InternalTaskUpdateRequest,
  TaskEvent,
  TaskUpdateJob,
  jobIdFor,
} from '@closeloop/queue';
import fc from 'fast-check';
import {
  API_KEY,
  createWebhookSecret,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';
import {
  answerOf,
  breakOneField,
  expectStillHealthyAtTheEnd,
  judgeAnswer,
  nodeRefusesHeaderValue,
  oddBody,
  rawPost,
  runs,
  validEvent,
  type Answer,
} from './fuzz-support.js';

/**
 * POST /webhooks/events (Standard Webhooks) and POST /v1/task-updates, fuzzed against a real
 * receiver and Redis. Every answer is a 4xx in the error shape or, for a genuine valid event, a
 * 202; every job in Redis is one a 202 announced, and valid against TaskUpdateJob.
 */

let receiver: TestReceiver;
let secret: string;
/** Job ids answered `duplicate: false`: exactly the jobs Redis may hold. */
const accepted = new Set<string>();

beforeAll(async () => {
  receiver = await startTestReceiver();
  secret = receiver.config.webhookSecrets[0] ?? '';
});

afterAll(async () => {
  await receiver?.close();
});

const sample = JSON.stringify(EXAMPLE_TASK_EVENT);

function postEvent(body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return fetch(`${receiver.url}/webhooks/events`, { method: 'POST', headers, body }).then(answerOf);
}

function postInternal(body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return fetch(`${receiver.url}/v1/task-updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  }).then(answerOf);
}

/** A 202 `{jobId, duplicate}`: recorded, and the job is in Redis as the receiver's answer says. */
async function recordAccepted(answer: Answer): Promise<TaskUpdateJob> {
  const { jobId, duplicate } = JSON.parse(answer.text) as { jobId: string; duplicate: boolean };
  if (!duplicate) accepted.add(jobId);
  const job = await receiver.tasks.getJob(jobId);
  expect(TaskUpdateJob.safeParse(job?.data).success).toBe(true);
  return job?.data as TaskUpdateJob;
}

/** Redis holds exactly the jobs announced, each valid (nothing invalid, nothing unannounced). */
async function expectOnlyAcceptedJobs(): Promise<void> {
  expect(await receiver.jobCount()).toBe(accepted.size);
}

/** What the body means, judged apart from the receiver: undefined when it is not a valid event. */
function eventIn(body: Buffer, schema: typeof TaskEvent | typeof InternalTaskUpdateRequest): unknown {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    const result = schema.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes as the sender would send them; lone surrogates in the value come out as JSON escapes. */
const bytesOf = (value: unknown): Buffer => Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');

describe('fuzz: POST /webhooks/events', () => {
  it('When a genuine signed body is anything but a valid event, then 4xx in the error shape and nothing is enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(oddBody(sample), async (body) => {
        const answer = await postEvent(body, signedHeaders(secret, body));
        const valid = eventIn(body, TaskEvent) !== undefined && body.length <= receiver.config.bodyLimitBytes;
        const error = judgeAnswer(answer, { accept: valid });
        if (error) expect(['INVALID_JSON', 'INVALID_BODY', 'PAYLOAD_TOO_LARGE']).toContain(error.code);
        else await recordAccepted(answer);
        await expectOnlyAcceptedJobs();
      }),
      runs(60),
    );
  });

  it('When a genuine signed event is valid, then 202, its job holds the event as sent, and a redelivery is a duplicate', async () => {
    await fc.assert(
      fc.asyncProperty(validEvent, async (event) => {
        const body = bytesOf(event);
        const headers = signedHeaders(secret, body);
        const answer = await postEvent(body, headers);
        expect(judgeAnswer(answer, { accept: true })).toBeUndefined();
        const job = await recordAccepted(answer);
        expect(job.event).toEqual(JSON.parse(body.toString('utf8')));
        const jobId = jobIdFor('events', headers['webhook-id'] ?? '');
        expect(JSON.parse(answer.text)).toEqual({ jobId, duplicate: false });
        const again = await postEvent(body, headers);
        expect({ status: again.status, body: JSON.parse(again.text) as unknown }).toEqual({
          status: 202,
          body: { jobId, duplicate: true },
        });
        await expectOnlyAcceptedJobs();
      }),
      runs(40),
    );
  });

  it('When a valid event has one field broken, then 400 INVALID_BODY with issues unless the schema still accepts it', async () => {
    await fc.assert(
      fc.asyncProperty(validEvent.chain(breakOneField), async (event) => {
        const body = bytesOf(event);
        const answer = await postEvent(body, signedHeaders(secret, body));
        const valid = eventIn(body, TaskEvent) !== undefined;
        const error = judgeAnswer(answer, { accept: valid });
        if (error) {
          expect(error.code).toMatch(/^(INVALID_BODY|INVALID_JSON)$/);
          if (error.code === 'INVALID_BODY') expect(error.issues?.length).toBeGreaterThan(0);
        } else {
          await recordAccepted(answer);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        await expectOnlyAcceptedJobs();
      }),
      runs(80),
    );
  });

  /** How one Standard Webhooks header is sent: as signed, left out, garbage, doubled, or signed wrong. */
  const headerVariant = fc.constantFrom(
    'genuine',
    'genuine',
    'absent',
    'garbage',
    'twice',
    'genuine-then-garbage',
    'garbage-then-genuine',
    'wrong',
  );
  /** Header bytes Node accepts (VCHAR, SP, HTAB, obs-text) and some it refuses (NUL, a lone CR). */
  const garbage = fc.oneof(
    fc.string({ unit: fc.constantFrom(...'ab,1 =v1+/\t\x7f\xe9\xff-_.'), maxLength: 60 }),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((text) => text.replace(/[\r\n]/g, '')),
    fc.constantFrom('v1,', 'v1', ',', 'v2,abc', 'v1,' + 'A'.repeat(44), '-1', '1e3', '0x10', '\u0000'),
  );

  it('When the signature headers are missing, garbage, doubled or mismatched, then 401 (or 400 for bytes Node refuses), never a job', async () => {
    const other = createWebhookSecret();
    await fc.assert(
      fc.asyncProperty(
        validEvent,
        fc.tuple(headerVariant, headerVariant, headerVariant),
        fc.tuple(garbage, garbage, garbage),
        async (event, variants, garbageValues) => {
          const body = bytesOf(event);
          const id = `msg_${randomUUID()}`;
          const genuine = signedHeaders(secret, body, { id });
          const wrong: Record<string, string> = {
            'webhook-id': `msg_${randomUUID()}`,
            // Genuinely signed, ten minutes ago: only the time is wrong.
            'webhook-timestamp':
              signedHeaders(secret, body, { id, at: new Date(Date.now() - 600_000) })['webhook-timestamp'] ??
              '',
            'webhook-signature': signedHeaders(other, body, { id })['webhook-signature'] ?? '',
          };
          const names = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
          const headers: [string, string][] = [['content-type', 'application/json']];
          names.forEach((name, index) => {
            const real = genuine[name] ?? '';
            const junk = garbageValues[index] ?? '';
            const variant = variants[index];
            if (variant === 'genuine') headers.push([name, real]);
            else if (variant === 'garbage') headers.push([name, junk]);
            else if (variant === 'twice') headers.push([name, real], [name, real]);
            else if (variant === 'genuine-then-garbage') headers.push([name, real], [name, junk]);
            else if (variant === 'garbage-then-genuine') headers.push([name, junk], [name, real]);
            else if (variant === 'wrong') headers.push([name, wrong[name] ?? '']);
          });
          const answer = await rawPost(receiver.url, '/webhooks/events', headers, body);
          // Genuine only when id and timestamp are the signed ones, sent once, and a signed v1
          // signature is among the (space-separated, possibly doubled) webhook-signature values.
          const [idVariant, timestampVariant, signatureVariant] = variants;
          const signatureGenuine =
            signatureVariant === 'genuine' ||
            signatureVariant === 'twice' ||
            signatureVariant === 'genuine-then-garbage' ||
            signatureVariant === 'garbage-then-genuine';
          const genuineDelivery =
            idVariant === 'genuine' && timestampVariant === 'genuine' && signatureGenuine;
          const error = judgeAnswer(answer, { accept: genuineDelivery });
          if (error) {
            expect([401, 400]).toContain(answer.status);
            if (answer.status === 400) expect(error.code).toBe('BAD_REQUEST');
            else {
              expect(error.code).toMatch(
                /^(MISSING_SIGNATURE_HEADERS|INVALID_SIGNATURE_HEADERS|SIGNATURE_EXPIRED|INVALID_SIGNATURE)$/,
              );
            }
            // A genuine delivery is refused only when Node refused its bytes (a garbage header's).
            if (genuineDelivery) expect(error.code).toBe('BAD_REQUEST');
          } else {
            await recordAccepted(answer);
          }
          await expectOnlyAcceptedJobs();
        },
      ),
      runs(100),
    );
  });
});

describe('fuzz: POST /v1/task-updates', () => {
  const withKey = fc
    .tuple(validEvent, fc.stringMatching(/^[\x21-\x7e]{1,64}$/))
    .map(([event, idempotencyKey]) => ({ ...event, idempotencyKey: `${idempotencyKey}-${randomUUID()}` }));

  it('When the body is anything but a valid request, then 4xx in the error shape and nothing is enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(oddBody(sample), withKey.chain(breakOneField).map(bytesOf)), async (body) => {
        const answer = await postInternal(body);
        const valid =
          eventIn(body, InternalTaskUpdateRequest) !== undefined &&
          body.length <= receiver.config.bodyLimitBytes;
        const error = judgeAnswer(answer, { accept: valid });
        if (error) expect(['INVALID_JSON', 'INVALID_BODY', 'PAYLOAD_TOO_LARGE']).toContain(error.code);
        else await recordAccepted(answer);
        await expectOnlyAcceptedJobs();
      }),
      runs(80),
    );
  });

  it('When a valid request comes with any Authorization and Content-Type, then 202 only for the key and JSON', async () => {
    const authorization = fc.oneof(
      fc.constant(`Bearer ${API_KEY}`),
      fc.constant(`bearer   ${API_KEY}`),
      fc.constant(`Bearer ${API_KEY.slice(0, -1)}`),
      fc.constant(API_KEY),
      fc.constant(`Basic ${API_KEY}`),
      fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((text) => text.replace(/[\r\n\0]/g, '')),
    );
    const contentType = fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON;CHARSET="UTF-8"',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/jsonx',
        '',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((text) => text.replace(/[\r\n\0]/g, '')),
    );
    await fc.assert(
      fc.asyncProperty(withKey, authorization, contentType, async (request, auth, type) => {
        const body = bytesOf(request);
        const sent: [string, string][] = [
          ...(auth.trim() === '' ? [] : ([['authorization', auth]] as [string, string][])),
          ...(type.trim() === '' ? [] : ([['content-type', type]] as [string, string][])),
        ];
        const answer = await rawPost(receiver.url, '/v1/task-updates', sent, body);
        const keyOk = /^bearer +(\S+) *$/i.exec(auth.trim())?.[1] === API_KEY;
        // Only the headers sent count: an all-whitespace value (a lone vertical tab) is left out.
        const nodeRefuses = nodeRefusesHeaderValue(sent.map(([, value]) => value).join(''));
        const error = judgeAnswer(answer, { accept: keyOk && !nodeRefuses });
        if (error) {
          if (nodeRefuses) {
            expect(error.code).toBe('BAD_REQUEST');
          } else if (!keyOk) {
            expect(['MISSING_API_KEY', 'INVALID_API_KEY']).toContain(error.code);
          } else {
            expect(error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
          }
        } else {
          await recordAccepted(answer);
        }
        await expectOnlyAcceptedJobs();
      }),
      runs(80),
    );
  });
});

expectStillHealthyAtTheEnd(() => receiver);
