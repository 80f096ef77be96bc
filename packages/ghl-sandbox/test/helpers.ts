import { afterAll, beforeAll, beforeEach, expect } from '@jest/globals';
import { loadGhlContract, type ContractResponseCheck } from '@closeloop/test-support';
import { startSandbox, type RunningSandbox, type SandboxControl, type SandboxSeed } from '../src/index.js';

export const VERSION = '2021-07-28';
export const TOKEN_L1 = 'pit-11111111-aaaa-bbbb-cccc-000000000001';
export const TOKEN_L1_SECOND = 'pit-11111111-aaaa-bbbb-cccc-000000000002';
export const TOKEN_L2 = 'pit-22222222-aaaa-bbbb-cccc-000000000001';

/** Two locations with a contact each; C1 has two tasks, C2 one. Ids look like GHL's (20 characters). */
export const DEMO_SEED: SandboxSeed = {
  locations: [
    { id: 've9EPM428h8vShlRW1KT', tokens: [TOKEN_L1, TOKEN_L1_SECOND] },
    { id: 'otherLocation0000001', tokens: [TOKEN_L2] },
  ],
  contacts: [
    {
      id: 'sx6wyHhbFdRXh302LLNR',
      locationId: 've9EPM428h8vShlRW1KT',
      email: 'Test+abc@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
    },
    { id: 'otherContact00000001', locationId: 'otherLocation0000001', email: 'other@example.com' },
  ],
  tasks: [
    {
      id: 'ocQHyuzHvysMo5N5VsXc',
      contactId: 'sx6wyHhbFdRXh302LLNR',
      title: 'Call back',
      body: 'About ZD-4711',
      assignedTo: 'user0000000000000001',
      dueDate: '2026-12-01T10:00:00.000Z',
    },
    { id: 'secondTask0000000001', contactId: 'sx6wyHhbFdRXh302LLNR', title: 'Send quote', completed: true },
    { id: 'otherTask00000000001', contactId: 'otherContact00000001', title: 'Elsewhere' },
  ],
};
export const L1 = 've9EPM428h8vShlRW1KT';
export const C1 = 'sx6wyHhbFdRXh302LLNR';
export const T1 = 'ocQHyuzHvysMo5N5VsXc';
export const T2 = 'secondTask0000000001';
export const C2 = 'otherContact00000001';
export const T3 = 'otherTask00000000001';

export async function resetAndSeed(control: SandboxControl, seed: SandboxSeed = DEMO_SEED): Promise<void> {
  await control.reset();
  await control.seed(seed);
}

/**
 * One sandbox for the whole test file, with a burst budget the file cannot exhaust, reset to `seed`
 * before each test. Call it at the top of the file; `url` and `control` read the running sandbox.
 */
export function useSharedSandbox(seed: SandboxSeed = DEMO_SEED): Pick<RunningSandbox, 'url' | 'control'> {
  let running: RunningSandbox | undefined;
  const current = (): RunningSandbox => {
    if (!running) throw new Error('the shared sandbox is used before beforeAll started it');
    return running;
  };
  beforeAll(async () => {
    running = await startSandbox({ burstLimit: 10_000 });
  });
  afterAll(async () => {
    await running?.close();
  });
  beforeEach(async () => {
    await resetAndSeed(current().control, seed);
  });
  return {
    get url() {
      return current().url;
    },
    get control() {
      return current().control;
    },
  };
}

export interface GhlRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  /** undefined = the valid default; null = no header. */
  token?: string | null;
  version?: string | null;
  /** Serialized as JSON unless `rawBody` is given. */
  body?: unknown;
  rawBody?: string;
}

export interface GhlResponse {
  status: number;
  headers: Headers;
  body: unknown;
  /** The OpenAPI check of this response; undefined for paths the document does not have. */
  contract: ContractResponseCheck | undefined;
}

/**
 * One real HTTP call to the sandbox, validated against GHL's OpenAPI document on the way out: a
 * documented status must match its schema. Whether the status is documented at all is asserted by
 * the tests themselves, by name.
 */
export async function callGhl(baseUrl: string, request: GhlRequest): Promise<GhlResponse> {
  const headers: Record<string, string> = {};
  const token = request.token === undefined ? TOKEN_L1 : request.token;
  const version = request.version === undefined ? VERSION : request.version;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (version !== null) headers.version = version;
  let payload: string | undefined;
  if (request.rawBody !== undefined) payload = request.rawBody;
  else if (request.body !== undefined) payload = JSON.stringify(request.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const search = request.query ? `?${new URLSearchParams(request.query).toString()}` : '';

  const response = await fetch(`${baseUrl}${request.path}${search}`, {
    method: request.method,
    headers,
    ...(payload !== undefined && { body: payload }),
  });
  const text = await response.text();
  const body: unknown = text.length > 0 ? JSON.parse(text) : undefined;

  const contract = await loadGhlContract();
  let check: ContractResponseCheck | undefined;
  try {
    check = contract.checkResponse(request.method, request.path, response.status, body);
  } catch {
    check = undefined; // a path the document does not have (unknown-route tests)
  }
  if (check) expect(check.errors).toEqual([]);
  return { status: response.status, headers: response.headers, body, contract: check };
}

export const completePath = (contactId = C1, taskId = T1): string =>
  `/contacts/${contactId}/tasks/${taskId}/completed`;

export function rateHeaders(headers: Headers): Record<string, string | null> {
  return {
    max: headers.get('x-ratelimit-max'),
    remaining: headers.get('x-ratelimit-remaining'),
    interval: headers.get('x-ratelimit-interval-milliseconds'),
    dailyLimit: headers.get('x-ratelimit-limit-daily'),
    dailyRemaining: headers.get('x-ratelimit-daily-remaining'),
  };
}
