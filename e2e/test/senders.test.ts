/**
 * Every helpdesk preset end to end: each vendor's documented payload, signed as the vendor signs it
 * (packages/sources/test/fixtures/<vendor>.ts), goes to the real receiver process, and the real
 * worker process finds the GHL task by matching alone (no GHL ids in any delivery) and completes it,
 * then reopens it. Half the vendors carry the requester's email (contact lookup), the others only a
 * ticket reference (task search), so both lookups are exercised through the processes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { findFreePort, testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { Redis } from 'ioredis';
import { githubDelivery } from '../../packages/sources/test/fixtures/github.js';
import { helpscoutDelivery } from '../../packages/sources/test/fixtures/helpscout.js';
import { hubspotDelivery } from '../../packages/sources/test/fixtures/hubspot.js';
import { intercomDelivery } from '../../packages/sources/test/fixtures/intercom.js';
import { jiraDelivery } from '../../packages/sources/test/fixtures/jira.js';
import { linearDelivery } from '../../packages/sources/test/fixtures/linear.js';
import { freshdeskDelivery } from '../../packages/sources/test/fixtures/freshdesk.js';
import { tokenDelivery } from '../../packages/sources/test/fixtures/token.js';
import type { DeliveryBuilder } from '../../packages/sources/test/fixtures/delivery.js';
import { zendeskDelivery } from '../../packages/sources/test/fixtures/zendesk.js';
import {
  startProcess,
  startWorkerProcess,
  stopProcess,
  waitUntilServing,
  type Proc,
} from './support/processes.js';

const LOCATION = 've9EPM428h8vShlRW1KT';
const CONTACT = 'sx6wyHhbFdRXh302LLNR';
const EMAIL = 'jordan@example.com';
const GHL_TOKEN = `pit-e2e-${randomBytes(12).toString('hex')}`;
const PATH_TOKEN = randomBytes(24).toString('base64url');

interface Vendor {
  type: string;
  build: DeliveryBuilder;
  ticketRef: string;
  /** Whether the vendor's payload carries the requester's email (the contact lookup) or not (task search). */
  email: boolean;
  pathToken?: boolean;
}

const VENDORS: Vendor[] = [
  { type: 'zendesk', build: zendeskDelivery, ticketRef: '90001', email: true },
  { type: 'freshdesk', build: freshdeskDelivery, ticketRef: '90002', email: true, pathToken: true },
  { type: 'helpscout', build: helpscoutDelivery, ticketRef: '90003', email: true },
  { type: 'intercom', build: intercomDelivery, ticketRef: '90004', email: false },
  { type: 'hubspot', build: hubspotDelivery, ticketRef: '90005', email: false },
  { type: 'linear', build: linearDelivery, ticketRef: 'ENG-90006', email: false },
  { type: 'jira', build: jiraDelivery, ticketRef: 'PROJ-90007', email: false },
  { type: 'github', build: githubDelivery, ticketRef: 'acme/app#90008', email: false },
  { type: 'token', build: tokenDelivery, ticketRef: 'OPS-90009', email: true },
];

const secretFor = (type: string): string => `${type}-secret-${randomBytes(12).toString('hex')}`;
const SECRETS = Object.fromEntries(VENDORS.map((v) => [v.type, secretFor(v.type)]));

describe('helpdesk senders end to end (receiver and worker processes, Redis, GHL sandbox)', () => {
  let sandbox: RunningSandbox;
  let receiver: Proc;
  let worker: Proc;
  let receiverUrl: string;
  const prefix = uniquePrefix('senders');
  const dir = mkdtempSync(join(tmpdir(), 'closeloop-senders-'));
  const taskIds = new Map<string, string>();

  const urlFor = (vendor: Vendor): string =>
    `${receiverUrl}/webhooks/${vendor.type}${vendor.pathToken ? `/${PATH_TOKEN}` : ''}`;

  const deliver = async (
    vendor: Vendor,
    closed: boolean,
    secret = SECRETS[vendor.type] ?? '',
  ): Promise<{ status: number; body: unknown }> => {
    const url = urlFor(vendor);
    const { headers, body } = vendor.build({
      secret,
      ticketRef: vendor.ticketRef,
      closed,
      now: new Date(),
      url,
      ...(vendor.email && { email: EMAIL }),
    });
    const response = await fetch(url, { method: 'POST', headers, body });
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
    await sandbox.control.seed({
      locations: [{ id: LOCATION, tokens: [GHL_TOKEN] }],
      contacts: [{ id: CONTACT, locationId: LOCATION, email: EMAIL }],
      tasks: VENDORS.flatMap((vendor, index) => {
        const id = `sendTask${String(index).padStart(12, '0')}`;
        taskIds.set(vendor.type, id);
        // A decoy whose reference only starts like the real one: the whole-word default must skip it.
        return [
          {
            id,
            contactId: CONTACT,
            title: `Follow up ${vendor.ticketRef} with the customer`,
            completed: false,
          },
          {
            id: `decoy${String(index).padStart(15, '0')}`,
            contactId: CONTACT,
            title: `Follow up ${vendor.ticketRef}0`,
            completed: false,
          },
        ];
      }),
    });
    const port = await findFreePort();
    receiverUrl = `http://127.0.0.1:${port}`;
    const sourcesFile = join(dir, 'sources.json');
    writeFileSync(
      sourcesFile,
      JSON.stringify({
        sources: VENDORS.map((vendor) => ({
          name: vendor.type,
          type: vendor.type,
          secretEnv: `${vendor.type.toUpperCase()}_SECRET`,
          locationId: LOCATION,
          ...(vendor.pathToken && { pathTokenEnv: 'FRESHDESK_PATH_TOKEN' }),
          ...(vendor.type === 'hubspot' && { publicUrl: `${receiverUrl}/webhooks/hubspot` }),
        })),
      }),
    );
    const env = { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: 'debug' };
    receiver = startProcess('apps/receiver/src/main.ts', {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      SOURCES_FILE: sourcesFile,
      FRESHDESK_PATH_TOKEN: PATH_TOKEN,
      ...Object.fromEntries(VENDORS.map((v) => [`${v.type.toUpperCase()}_SECRET`, SECRETS[v.type] ?? ''])),
    });
    worker = startWorkerProcess({ ...env, GHL_BASE_URL: sandbox.url, GHL_TOKEN, GHL_LOCATION_ID: LOCATION });
    await waitUntilServing(receiverUrl, worker);
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([receiver && stopProcess(receiver), worker && stopProcess(worker)]);
    const redis = new Redis(testRedisUrl());
    const leftovers = await redis.keys(`${prefix}:*`);
    if (leftovers.length) await redis.del(...leftovers);
    await redis.quit();
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  it.each(VENDORS.map((vendor) => [vendor.type, vendor] as const))(
    'When a %s delivery is signed with another secret, then 401 and nothing is enqueued',
    async (_type, vendor) => {
      const refused = await deliver(vendor, true, `wrong-secret-${randomBytes(8).toString('hex')}`);
      expect(refused.status).toBe(401);
      const code = (refused.body as { error?: { code?: string } }).error?.code;
      expect(code).toBe(
        vendor.type === 'freshdesk' || vendor.type === 'token' ? 'UNAUTHORIZED' : 'INVALID_SIGNATURE',
      );
      const redis = new Redis(testRedisUrl());
      try {
        expect(await redis.keys(`${prefix}:task-updates:dedupe:${vendor.type}-*`)).toEqual([]);
      } finally {
        await redis.quit();
      }
    },
  );

  it.each(VENDORS.map((vendor) => [vendor.type, vendor] as const))(
    'When %s closes and then reopens a ticket, then the task that mentions it is completed and then reopened, found by matching alone',
    async (_type, vendor) => {
      const taskId = taskIds.get(vendor.type) ?? '';
      const closed = await deliver(vendor, true);
      expect(closed.status).toBe(202);
      // One job: `{jobId, duplicate}`, or for a batch (HubSpot sends an array) `{jobs: [one], ignored: []}`.
      expect(closed.body).toEqual(
        vendor.type === 'hubspot'
          ? { jobs: [{ jobId: expect.stringMatching(/^hubspot-/), duplicate: false }], ignored: [] }
          : { jobId: expect.stringMatching(new RegExp(`^${vendor.type}-`)), duplicate: false },
      );
      await waitFor(async () => (await sandbox.control.getTask(taskId))?.completed === true, {
        timeoutMs: 15_000,
        description: `the ${vendor.type} task to be completed; worker output:\n${worker.output.join('').slice(-3000)}`,
      });
      // Received later than the close, so it wins even if the vendor stamps both in the same second.
      const reopened = await deliver(vendor, false);
      expect(reopened.status).toBe(202);
      await waitFor(async () => (await sandbox.control.getTask(taskId))?.completed === false, {
        timeoutMs: 15_000,
        description: `the ${vendor.type} task to be reopened`,
      });
      const calls = await sandbox.control.calls({ method: 'PUT' });
      const decoyPuts = calls.filter((call) => call.path.includes('decoy'));
      expect(decoyPuts).toEqual([]);
      const lookups = (await sandbox.control.calls()).filter(
        (call) =>
          call.method !== 'PUT' &&
          JSON.stringify(call).includes(vendor.email ? 'duplicate' : vendor.ticketRef),
      );
      expect(lookups.length).toBeGreaterThanOrEqual(1);
    },
  );
});
