import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, expect, it } from '@jest/globals';
import type { TaskEvent } from '@closeloop/queue';
import fc from 'fast-check';

/**
 * What the fuzz-*.test.ts files share: run parameters, how an answer is judged, and the
 * arbitraries of odd bodies and broken events. Runs are few (the whole set stays well under a
 * minute on two cores); fast-check prints the seed and path of a failing run, and FUZZ_SEED=<seed>
 * replays it.
 */

const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** FUZZ_SCALE=10 runs ten times as many cases, for a longer hunt by hand. */
const scale = Number(process.env.FUZZ_SCALE ?? 1) || 1;

export function runs(numRuns: number): { numRuns: number; seed?: number } {
  const scaled = Math.max(1, Math.round(numRuns * scale));
  return seed === undefined || Number.isNaN(seed) ? { numRuns: scaled } : { numRuns: scaled, seed };
}

/** An HTTP answer, read whole. Header names lower-case; repeated headers joined with ", ". */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export async function answerOf(response: Response): Promise<Answer> {
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    text: await response.text(),
  };
}

/** docs/contracts.md, "HTTP": codes are UPPER_SNAKE. */
export const UPPER_SNAKE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

export interface ErrorDetail {
  code: string;
  message: string;
  issues?: { path: (string | number)[]; message: string }[];
}

/**
 * The one outcome allowed for anything a sender can send: a 4xx in the error shape with a request
 * id, or a 202 (only where the caller allows it). Never a 5xx. Returns the error, or undefined for a 202.
 */
export function judgeAnswer(answer: Answer, options: { accept?: boolean } = {}): ErrorDetail | undefined {
  if (answer.status === 202 && options.accept) {
    expect(JSON.parse(answer.text)).toEqual(expect.any(Object));
    return undefined;
  }
  // The status with the start of the body, so that a failure shows what was answered.
  expect(`${answer.status} ${answer.text.slice(0, 300)}`).toMatch(/^4\d\d /);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  const body = JSON.parse(answer.text) as { error: ErrorDetail };
  expect(Object.keys(body)).toEqual(['error']);
  const { code, message, issues, ...rest } = body.error;
  expect(rest).toEqual({});
  expect(code).toMatch(UPPER_SNAKE);
  expect(typeof message).toBe('string');
  expect(message.length).toBeGreaterThan(0);
  if (issues !== undefined) {
    expect(Array.isArray(issues)).toBe(true);
    for (const issue of issues) {
      expect(Array.isArray(issue.path)).toBe(true);
      expect(typeof issue.message).toBe('string');
    }
  }
  return body.error;
}

/**
 * Writes `request` as it is on a fresh connection and reads until the server closes it; the
 * request must say `Connection: close`. For what fetch refuses to send: repeated headers, header
 * bytes it would reject.
 */
export function sendRaw(baseUrl: string, request: string | Buffer): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const separator = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = (separator === -1 ? raw : raw.slice(0, separator)).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0),
        headers,
        text: separator === -1 ? '' : raw.slice(separator + 4),
      });
    });
  });
}

/** A raw POST with the headers as given, in order, repeats kept. */
export function rawPost(
  baseUrl: string,
  path: string,
  headers: [string, string][],
  body: Buffer,
): Promise<Answer> {
  const head =
    `POST ${path} HTTP/1.1\r\nHost: ${new URL(baseUrl).host}\r\nConnection: close\r\n` +
    headers.map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    `Content-Length: ${body.length}\r\n\r\n`;
  return sendRaw(baseUrl, Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

// ---- arbitraries ----------------------------------------------------------------------------

/** Keys that mean something to JavaScript objects, and keys that are merely odd. */
export const weirdKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  '',
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e',
  '\ufeff',
);

/** Strings of any code point, lone surrogates and NUL included. */
export const oddString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('\u0000', '\ud800', '\udc00', 'a\ud800b', '\ufeff', '\u202e', 'e\u0301', '\u{1f600}'),
);

const jsonValue = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' });

/** A value the schemas must cope with wherever a field is expected. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  jsonValue,
  oddString,
  fc.constantFrom(
    null,
    true,
    0,
    -0,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    5e-324,
    [],
    {},
    '',
    ' ',
    'x'.repeat(10_000),
  ),
  fc.integer({ min: 1, max: 2_000 }).map((depth) => nest(depth, 1)),
  fc.dictionary(weirdKey, jsonValue, { minKeys: 1, maxKeys: 3 }),
);

/** `depth` levels of arrays and objects around `leaf`, built without recursion. */
export function nest(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let level = 0; level < depth; level++) value = level % 2 ? { a: value } : [value];
  return value;
}

/** Object text with the given keys in order: JSON.stringify cannot write a `__proto__` own key from a literal. */
function objectText(entries: [string, unknown][]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`).join(',')}}`;
}

/**
 * Bodies no genuine sender produces, as bytes: arbitrary bytes, arbitrary JSON, objects with
 * prototype keys, nesting deeper than any parser recursion, bodies around and over the 256 KiB
 * limit, raw (invalid UTF-8) lone surrogates and NULs, a BOM.
 */
export function oddBody(valid: string): fc.Arbitrary<Buffer> {
  const text = (arbitrary: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
    arbitrary.map((value) => Buffer.from(value, 'utf8'));
  return fc.oneof(
    fc.uint8Array({ maxLength: 2_048 }).map((bytes) => Buffer.from(bytes)),
    text(fc.json({ maxDepth: 5, stringUnit: 'binary' })),
    text(fc.array(fc.tuple(fc.oneof(weirdKey, oddString), oddValue), { maxLength: 6 }).map(objectText)),
    text(
      fc
        .tuple(fc.constantFrom('[', '{"a":', '{"__proto__":'), fc.integer({ min: 1_000, max: 60_000 }))
        .map(([open, depth]) => {
          const close = open === '[' ? ']' : '}';
          return open.repeat(depth) + '1' + close.repeat(depth);
        }),
    ),
    text(
      fc
        .integer({ min: 200 * 1024, max: 300 * 1024 })
        .map((size) => JSON.stringify({ padding: 'x'.repeat(size) })),
    ),
    fc
      .tuple(fc.nat({ max: valid.length }), fc.constantFrom([0xed, 0xa0, 0x80], [0x00], [0xff], [0xc0, 0x80]))
      .map(([at, bytes]) =>
        Buffer.concat([Buffer.from(valid.slice(0, at)), Buffer.from(bytes), Buffer.from(valid.slice(at))]),
      ),
    fc.constant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)])),
  );
}

const ghlId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const email = fc.stringMatching(/^[a-z0-9]{1,16}@[a-z0-9]{1,16}\.[a-z]{2,6}$/);
const ticketRef = fc.record(
  {
    id: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
    url: fc.stringMatching(/^[a-z0-9]{1,20}$/).map((path) => `https://helpdesk.example.com/t/${path}`),
  },
  { requiredKeys: ['id'] },
);
const occurredAt = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .chain((date) => fc.constantFrom(date.toISOString(), date.toISOString().replace('Z', '+00:00')));
const type = fc.constantFrom('ticket.closed' as const, 'ticket.reopened' as const);

/** Events TaskEvent accepts: with both task ids, or with a ticket (and at most a location). */
export const validEvent: fc.Arbitrary<TaskEvent> = fc.oneof(
  fc.record(
    {
      type,
      occurredAt,
      ticket: ticketRef,
      requester: fc.record({ email }),
      ghl: fc.record(
        { locationId: ghlId, contactId: ghlId, taskId: ghlId },
        { requiredKeys: ['contactId', 'taskId'] },
      ),
    },
    { requiredKeys: ['type', 'occurredAt', 'ghl'] },
  ),
  fc.record(
    {
      type,
      occurredAt,
      ticket: ticketRef,
      requester: fc.record({ email }),
      ghl: fc.record({ locationId: ghlId }, { requiredKeys: [] }),
    },
    { requiredKeys: ['type', 'occurredAt', 'ticket'] },
  ),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path into a JSON value, the root included. */
function pathsOf(value: unknown, prefix: (string | number)[] = [], into: (string | number)[][] = []) {
  into.push(prefix);
  if (Array.isArray(value)) value.forEach((item, index) => pathsOf(item, [...prefix, index], into));
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value))
      pathsOf((value as Record<string, unknown>)[key], [...prefix, key], into);
  }
  return into;
}

/**
 * `value` with one thing broken at one place: a field replaced by an odd value, a field removed,
 * or an extra key (prototype keys included) added to an object. The copy is made by JSON, and keys
 * are defined, never assigned, so `__proto__` stays an own key.
 */
export function breakOneField(value: unknown): fc.Arbitrary<unknown> {
  const paths = pathsOf(value);
  return fc
    .tuple(
      fc.nat({ max: paths.length - 1 }),
      fc.constantFrom('replace', 'remove', 'add'),
      fc.oneof(weirdKey, oddString),
      oddValue,
    )
    .map(([index, operation, key, replacement]) => {
      const copy = JSON.parse(JSON.stringify(value)) as Json;
      const path = paths[index] ?? [];
      if (path.length === 0) {
        if (operation === 'add' && copy !== null && typeof copy === 'object' && !Array.isArray(copy)) {
          Object.defineProperty(copy, key, {
            value: replacement,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          return copy;
        }
        return replacement;
      }
      let parent: unknown = copy;
      for (const segment of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[segment];
      const last = path[path.length - 1] as string | number;
      const container = parent as Record<string | number, unknown>;
      if (operation === 'remove') {
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
      } else if (operation === 'add') {
        const target = container[last];
        if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
          Object.defineProperty(target, key, {
            value: replacement,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else {
          container[last] = replacement;
        }
      } else {
        Object.defineProperty(container, last, {
          value: replacement,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return copy;
    });
}

/**
 * The heap's growth over one fuzz file, each end measured after a full GC, against a bound: a leak
 * of what the fuzzer sent (hundreds of cases, bodies up to past the 256 KiB limit) crosses it;
 * garbage does not. Measured growth is 1–6 MB per file. Growth, not the heap's size: the process
 * also holds every test file it ran before this one (module registries under
 * --experimental-vm-modules), 1.18 GB by the end of one CI run.
 */
export const HEAP_GROWTH_BOUND_BYTES = 64 * 1024 * 1024;

/**
 * A full GC without starting node with --expose-gc: the flag set at run time applies to contexts
 * created after it, so a new context hands out `gc` (the pattern of Node's own test/common).
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function heapUsedAfterGc(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/**
 * What each fuzz file checks once every property has run: the receiver is still up, answered no
 * 500 (the INTERNAL counter) and its heap grew less than the bound. Called at the end of the file,
 * after its own beforeAll: jest runs a file's beforeAll hooks and tests in the order declared, so
 * the heap is first measured with the receiver up and checked after every property.
 */
export function expectStillHealthyAtTheEnd(receiver: () => { url: string; adminUrl: string }): void {
  let heapAtStart = 0;
  beforeAll(() => {
    heapAtStart = heapUsedAfterGc();
  });
  it('is still up after everything above: no 500 answered, heap grew less than the bound', async () => {
    const { url, adminUrl } = receiver();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).not.toContain('code="INTERNAL"');
    expect(heapUsedAfterGc() - heapAtStart).toBeLessThan(HEAP_GROWTH_BOUND_BYTES);
  });
}

/** Control characters other than HTAB: Node's parser refuses a header value holding one (clientError, 400). */
export function nodeRefusesHeaderValue(value: string): boolean {
  return [...value].some((char) => {
    const code = char.charCodeAt(0);
    return (code < 0x20 && code !== 0x09) || code === 0x7f;
  });
}
