import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TaskUpdateJob } from '@closeloop/queue';
import fc from 'fast-check';
import { decodeHubSpotUri } from '../../../packages/sources/src/presets/hubspot.js';
import type { DeliveryBuilder } from '../../../packages/sources/test/fixtures/delivery.js';
import { freshdeskDelivery } from '../../../packages/sources/test/fixtures/freshdesk.js';
import { githubDelivery } from '../../../packages/sources/test/fixtures/github.js';
import { helpscoutSignature, helpscoutDelivery } from '../../../packages/sources/test/fixtures/helpscout.js';
import { hubspotDelivery } from '../../../packages/sources/test/fixtures/hubspot.js';
import { intercomDelivery, intercomSignature } from '../../../packages/sources/test/fixtures/intercom.js';
import { jiraDelivery } from '../../../packages/sources/test/fixtures/jira.js';
import { linearDelivery } from '../../../packages/sources/test/fixtures/linear.js';
import { tokenDelivery } from '../../../packages/sources/test/fixtures/token.js';
import { zendeskDelivery, zendeskSignature } from '../../../packages/sources/test/fixtures/zendesk.js';
import { startTestReceiver, type TestReceiver } from './helpers.js';
import {
  answerOf,
  breakOneField,
  expectStillHealthyAtTheEnd,
  judgeAnswer,
  nodeRefusesHeaderValue,
  oddBody,
  rawPost,
  runs,
  type Answer,
} from './fuzz-support.js';

/**
 * POST /webhooks/:source for every vendor preset of packages/sources, fuzzed against a real
 * receiver and Redis. Deliveries are the fixtures' (signed as each vendor signs), then broken:
 * one field changed and re-signed, the body replaced by odd bytes and re-signed, or the
 * authentication headers tampered with. Every answer is a 4xx in the error shape or a 202; every
 * job in Redis was announced by a 202 and is valid against TaskUpdateJob.
 */

const LOCATION = 've9EPM428h8vShlRW1KT';
const PATH_TOKEN = randomBytes(24).toString('base64url');

interface Vendor {
  type: string;
  build: DeliveryBuilder;
  ticketRef: fc.Arbitrary<string>;
  /** The headers that carry the authentication (tampered with below). */
  authHeaders: string[];
  /** Re-signs `body` as the vendor would; absent for the shared-secret senders (nothing is signed). */
  sign?: (
    secret: string,
    body: Buffer,
    headers: Record<string, string>,
    url: string,
  ) => Record<string, string>;
  pathToken?: boolean;
}

const plainRef = fc.stringMatching(/^[1-9][0-9]{0,8}$/);
const hex = (algorithm: 'sha1' | 'sha256', secret: string, body: Buffer): string =>
  createHmac(algorithm, secret).update(body).digest('hex');

const VENDORS: Vendor[] = [
  {
    type: 'zendesk',
    build: zendeskDelivery,
    ticketRef: plainRef,
    authHeaders: ['x-zendesk-webhook-signature', 'x-zendesk-webhook-signature-timestamp'],
    sign: (secret, body, headers) => ({
      'x-zendesk-webhook-signature': zendeskSignature(
        secret,
        headers['x-zendesk-webhook-signature-timestamp'] ?? '',
        body,
      ),
    }),
  },
  {
    type: 'freshdesk',
    build: freshdeskDelivery,
    ticketRef: plainRef,
    authHeaders: ['authorization'],
    pathToken: true,
  },
  {
    type: 'helpscout',
    build: helpscoutDelivery,
    ticketRef: plainRef,
    authHeaders: ['x-helpscout-signature'],
    sign: (secret, body) => ({ 'x-helpscout-signature': helpscoutSignature(secret, body) }),
  },
  {
    type: 'intercom',
    build: intercomDelivery,
    ticketRef: plainRef,
    authHeaders: ['x-hub-signature'],
    sign: (secret, body) => ({ 'x-hub-signature': intercomSignature(secret, body) }),
  },
  {
    type: 'hubspot',
    build: hubspotDelivery,
    ticketRef: plainRef,
    authHeaders: ['x-hubspot-signature-v3', 'x-hubspot-request-timestamp'],
    sign: (secret, body, headers, url) => ({
      'x-hubspot-signature-v3': createHmac('sha256', secret)
        .update(`POST${decodeHubSpotUri(url)}`)
        .update(body)
        .update(headers['x-hubspot-request-timestamp'] ?? '')
        .digest('base64'),
    }),
  },
  {
    type: 'linear',
    build: linearDelivery,
    ticketRef: fc.stringMatching(/^[A-Z]{1,5}-[1-9][0-9]{0,5}$/),
    authHeaders: ['linear-signature'],
    sign: (secret, body) => ({ 'linear-signature': hex('sha256', secret, body) }),
  },
  {
    type: 'jira',
    build: jiraDelivery,
    ticketRef: fc.stringMatching(/^[A-Z]{1,5}-[1-9][0-9]{0,5}$/),
    authHeaders: ['x-hub-signature'],
    sign: (secret, body) => ({ 'x-hub-signature': `sha256=${hex('sha256', secret, body)}` }),
  },
  {
    type: 'github',
    build: githubDelivery,
    ticketRef: fc.stringMatching(/^[a-z][a-z0-9-]{0,9}\/[a-z][a-z0-9.-]{0,9}#[1-9][0-9]{0,5}$/),
    authHeaders: ['x-hub-signature-256'],
    sign: (secret, body) => ({ 'x-hub-signature-256': `sha256=${hex('sha256', secret, body)}` }),
  },
  { type: 'token', build: tokenDelivery, ticketRef: plainRef, authHeaders: ['authorization'] },
];

const SECRETS = Object.fromEntries(
  VENDORS.map((v) => [v.type, `${v.type}-secret-${randomBytes(12).toString('hex')}`]),
);
const dir = mkdtempSync(join(tmpdir(), 'closeloop-fuzz-sources-'));
let receiver: TestReceiver;
/** Job ids answered as new: exactly the jobs Redis may hold. */
const accepted = new Set<string>();

beforeAll(async () => {
  const sourcesFile = join(dir, 'sources.json');
  writeFileSync(
    sourcesFile,
    JSON.stringify({
      sources: VENDORS.map((vendor) => ({
        name: vendor.type,
        type: vendor.type,
        secretEnv: `${vendor.type.toUpperCase()}_SECRET`,
        locationId: LOCATION,
        ...(vendor.pathToken && { pathTokenEnv: 'PATH_TOKEN' }),
      })),
    }),
  );
  receiver = await startTestReceiver({
    SOURCES_FILE: sourcesFile,
    PATH_TOKEN,
    ...Object.fromEntries(VENDORS.map((v) => [`${v.type.toUpperCase()}_SECRET`, SECRETS[v.type]])),
  });
});

afterAll(async () => {
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

const pathOf = (vendor: Vendor): string =>
  `/webhooks/${vendor.type}${vendor.pathToken ? `/${PATH_TOKEN}` : ''}`;
const email = fc.option(fc.stringMatching(/^[a-z0-9]{1,12}@[a-z0-9]{1,12}\.[a-z]{2,6}$/), { nil: undefined });

function genuine(vendor: Vendor, ticketRef: string, closed: boolean, mail: string | undefined) {
  return vendor.build({
    secret: SECRETS[vendor.type] ?? '',
    ticketRef,
    closed,
    now: new Date(),
    url: `${receiver.url}${pathOf(vendor)}`,
    ...(mail !== undefined && { email: mail }),
  });
}

function post(vendor: Vendor, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return fetch(`${receiver.url}${pathOf(vendor)}`, { method: 'POST', headers, body }).then(answerOf);
}

/**
 * A 202 is `{jobId, duplicate}`, `{jobs, ignored}` or `{ignored: true, reason}`; each job it names is
 * in Redis and valid. Then Redis must hold exactly the jobs announced so far.
 */
async function checkAccepted(answer: Answer | undefined): Promise<void> {
  if (answer) {
    const body = JSON.parse(answer.text) as {
      jobId?: string;
      duplicate?: boolean;
      jobs?: { jobId: string; duplicate: boolean }[];
      ignored?: unknown;
      reason?: unknown;
    };
    const jobs =
      body.jobs ?? (body.jobId === undefined ? [] : [{ jobId: body.jobId, duplicate: !!body.duplicate }]);
    if (body.jobs === undefined && body.jobId === undefined) {
      expect(body).toEqual({ ignored: true, reason: expect.any(String) });
    }
    for (const { jobId, duplicate } of jobs) {
      if (!duplicate) accepted.add(jobId);
      const job = await receiver.tasks.getJob(jobId);
      const parsed = TaskUpdateJob.safeParse(job?.data);
      expect(parsed.success ? 'valid' : parsed.error.message).toBe('valid');
    }
  }
  expect(await receiver.jobCount()).toBe(accepted.size);
}

describe.each(VENDORS.map((vendor) => [vendor.type, vendor] as const))(
  'fuzz: POST /webhooks/%s',
  (_type, vendor) => {
    const secret = (): string => SECRETS[vendor.type] ?? '';
    /** The vendor's headers with the signature recomputed over `body` (the shared-secret senders sign nothing). */
    const resign = (body: Buffer, headers: Record<string, string>): Record<string, string> => ({
      ...headers,
      ...vendor.sign?.(secret(), body, headers, `${receiver.url}${pathOf(vendor)}`),
    });

    it('When a genuine delivery arrives, then 202 and its job is valid', async () => {
      await fc.assert(
        fc.asyncProperty(vendor.ticketRef, fc.boolean(), email, async (ticketRef, closed, mail) => {
          const { headers, body } = genuine(vendor, ticketRef, closed, mail);
          const answer = await post(vendor, Buffer.from(body), headers);
          expect(judgeAnswer(answer, { accept: true })).toBeUndefined();
          await checkAccepted(answer);
        }),
        runs(8),
      );
    });

    it('When one field of a genuine delivery is broken and it is re-signed, then a 4xx in the error shape or a 202 with valid jobs', async () => {
      const broken = fc.tuple(vendor.ticketRef, fc.boolean(), email).chain(([ticketRef, closed, mail]) => {
        const delivery = genuine(vendor, ticketRef, closed, mail);
        return breakOneField(JSON.parse(delivery.body)).map((value) => ({ delivery, value }));
      });
      await fc.assert(
        fc.asyncProperty(broken, async ({ delivery, value }) => {
          const body = Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
          const answer = await post(vendor, body, resign(body, delivery.headers));
          const error = judgeAnswer(answer, { accept: true });
          // Linear signs a timestamp inside the body: breaking it fails the check, as it should.
          if (error) {
            expect(error.code).toMatch(
              /^(INVALID_BODY|INVALID_JSON|PAYLOAD_TOO_LARGE|MISSING_SIGNATURE_HEADERS|INVALID_SIGNATURE_HEADERS|INVALID_SIGNATURE|SIGNATURE_EXPIRED)$/,
            );
          } else await checkAccepted(answer);
          await checkAccepted(undefined);
        }),
        runs(25),
      );
    });

    it('When the body is odd bytes or odd JSON and it is re-signed, then a 4xx in the error shape, or a 202 with no invalid job', async () => {
      const [ref = ''] = fc.sample(vendor.ticketRef, { numRuns: 1, seed: 1 });
      const sample = genuine(vendor, ref, true, undefined);
      await fc.assert(
        fc.asyncProperty(oddBody(sample.body), async (body) => {
          const answer = await post(vendor, body, resign(body, sample.headers));
          const error = judgeAnswer(answer, { accept: true });
          if (!error) await checkAccepted(answer);
          await checkAccepted(undefined);
        }),
        runs(15),
      );
    });

    it('When the authentication headers are missing, garbage, doubled or for another secret, then 401 (400 for bytes Node refuses)', async () => {
      const tampering = fc.constantFrom('absent', 'garbage', 'twice', 'then-garbage', 'other-secret');
      const garbage = fc.oneof(
        fc.string({ unit: fc.constantFrom(...'aZ09=+/,: \t-_.\xe9\xff'), minLength: 1, maxLength: 60 }),
        fc.constantFrom('sha256=', 'sha1=', 'Bearer', 'Basic ', 'Basic Og==', '0', '-1', '\u0000'),
      );
      await fc.assert(
        fc.asyncProperty(
          vendor.ticketRef,
          fc.constantFrom(...vendor.authHeaders),
          tampering,
          garbage,
          async (ticketRef, picked, how, junk) => {
            // Another secret changes the signature, not the timestamp beside it.
            const header = how === 'other-secret' ? (vendor.authHeaders[0] ?? picked) : picked;
            const delivery = genuine(vendor, ticketRef, true, undefined);
            const other = vendor.build({
              secret: `another-secret-${randomBytes(8).toString('hex')}`,
              ticketRef,
              closed: true,
              now: new Date(),
              url: `${receiver.url}${pathOf(vendor)}`,
            });
            const real = delivery.headers[header] ?? '';
            const list: [string, string][] = Object.entries(delivery.headers).filter(
              ([name]) => name !== header,
            );
            if (how === 'garbage') list.push([header, junk]);
            else if (how === 'twice') list.push([header, real], [header, real]);
            else if (how === 'then-garbage') list.push([header, real], [header, junk]);
            else if (how === 'other-secret') list.push([header, other.headers[header] ?? '']);
            const answer = await rawPost(receiver.url, pathOf(vendor), list, Buffer.from(delivery.body));
            const nodeRefuses = nodeRefusesHeaderValue(junk) && (how === 'garbage' || how === 'then-garbage');
            // Node keeps the first of repeated Authorization headers (and joins other repeats with ", ").
            const firstKept = header === 'authorization' && (how === 'twice' || how === 'then-garbage');
            const error = judgeAnswer(answer, { accept: firstKept && !nodeRefuses });
            if (nodeRefuses) expect(error?.code).toBe('BAD_REQUEST');
            else if (firstKept) await checkAccepted(answer);
            else {
              expect(answer.status).toBe(401);
              expect(error?.code).toMatch(
                /^(MISSING_SIGNATURE_HEADERS|INVALID_SIGNATURE_HEADERS|SIGNATURE_EXPIRED|INVALID_SIGNATURE|UNAUTHORIZED)$/,
              );
            }
            await checkAccepted(undefined);
          },
        ),
        runs(20),
      );
    });
  },
);

describe('fuzz: cases the fuzzer found, kept', () => {
  it('When a genuine Help Scout delivery has a lone surrogate in its conversation id or number, then 202 without a link, not a 500', async () => {
    const vendor = VENDORS.find(({ type }) => type === 'helpscout') as Vendor;
    const delivery = genuine(vendor, '84', true, undefined);
    for (const [field, value] of [
      ['id', 'a\ud800'],
      ['number', '\udc00'],
    ] as const) {
      const body = Buffer.from(JSON.stringify({ ...JSON.parse(delivery.body), [field]: value }), 'utf8');
      const headers = {
        ...delivery.headers,
        ...vendor.sign?.(SECRETS.helpscout ?? '', body, delivery.headers, ''),
      };
      const answer = await post(vendor, body, headers);
      expect(judgeAnswer(answer, { accept: true })).toBeUndefined();
      await checkAccepted(answer);
      const { jobId } = JSON.parse(answer.text) as { jobId: string };
      expect((await receiver.tasks.getJob(jobId))?.data.event.ticket).toEqual({
        id: field === 'number' ? value : '84',
      });
    }
  });
});

expectStillHealthyAtTheEnd(() => receiver);
