import { describe, expect, it } from '@jest/globals';
import { InternalTaskUpdateRequest, TaskEvent, TaskUpdateJob, jobIdFor } from '@closeloop/queue';
import fc from 'fast-check';
import { breakOneField, oddString, oddValue, runs, validEvent, weirdKey } from './fuzz-support.js';

/**
 * The schemas every job passes (packages/queue task-event.ts, task-update-job.ts), fuzzed pure:
 * what they accept stays accepted through JSON (the queue stores JSON), what is broken in one
 * place is refused, and no input makes them throw or touch Object.prototype.
 */

const idempotencyKey = fc.stringMatching(/^[\x21-\x7e]{1,256}$/);
const source = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);
const receivedAt = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true })
  .map((date) => date.toISOString());
const validJob = fc.record({
  v: fc.constant(1 as const),
  source,
  idempotencyKey,
  event: validEvent,
  receivedAt,
});

const defined = (target: object, key: string, value: unknown): object =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });

describe('fuzz: the task event and job schemas', () => {
  it('When an event is valid, then TaskEvent keeps it as it is, also after a JSON round trip', () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        expect(TaskEvent.parse(event)).toEqual(event);
        expect(TaskEvent.parse(JSON.parse(JSON.stringify(event)))).toEqual(JSON.parse(JSON.stringify(event)));
      }),
      runs(300),
    );
  });

  it('When a valid event gets an idempotency key, or becomes a job, then the internal and job schemas accept it', () => {
    fc.assert(
      fc.property(validJob, (job) => {
        expect(InternalTaskUpdateRequest.parse({ ...job.event, idempotencyKey: job.idempotencyKey })).toEqual(
          {
            ...job.event,
            idempotencyKey: job.idempotencyKey,
          },
        );
        expect(TaskUpdateJob.parse(JSON.parse(JSON.stringify(job)))).toEqual(JSON.parse(JSON.stringify(job)));
      }),
      runs(200),
    );
  });

  it('When any value at all is validated, then the schemas answer without throwing and Object.prototype is untouched', () => {
    const anything = fc.oneof(
      fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true }),
      oddValue,
      validEvent.chain(breakOneField),
    );
    fc.assert(
      fc.property(anything, (value) => {
        for (const schema of [TaskEvent, InternalTaskUpdateRequest, TaskUpdateJob]) {
          const result = schema.safeParse(value);
          if (!result.success) expect(result.error.issues.length).toBeGreaterThan(0);
        }
        expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      runs(400),
    );
  });

  it('When a valid event carries one extra key anywhere (prototype keys included), then TaskEvent refuses it', () => {
    const withExtraKey = fc
      .tuple(
        validEvent,
        fc.oneof(weirdKey, oddString),
        oddValue,
        fc.constantFrom('', 'ticket', 'ghl', 'requester'),
      )
      .filter(([event, key, , where]) => {
        const target = where === '' ? event : (event as Record<string, unknown>)[where];
        return (
          target !== undefined &&
          !Object.keys(target as object).includes(key) &&
          ![
            'type',
            'occurredAt',
            'ticket',
            'requester',
            'ghl',
            'id',
            'url',
            'email',
            'locationId',
            'contactId',
            'taskId',
          ].includes(key)
        );
      })
      .map(([event, key, value, where]) => {
        const copy = JSON.parse(JSON.stringify(event)) as Record<string, object>;
        defined(where === '' ? copy : (copy[where] as object), key, value);
        // As the receiver sees it: parsed from the body's text.
        return JSON.parse(JSON.stringify(copy)) as unknown;
      });
    fc.assert(
      fc.property(withExtraKey, (event) => {
        expect(TaskEvent.safeParse(event).success).toBe(false);
      }),
      runs(300),
    );
  });

  it('When one required field of a valid event is broken, then TaskEvent refuses it', () => {
    const notAnId = fc.oneof(
      fc.constant(''),
      fc.string({ minLength: 65, maxLength: 80, unit: fc.constantFrom('a', 'B', '1') }),
      fc
        .tuple(
          fc.string({ maxLength: 10 }),
          fc.constantFrom('/', '?', '#', ' ', '.', '%2F', '\u0000', '\ud800'),
        )
        .map(([text, bad]) => `${text}${bad}`),
    );
    const notAString = fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 2 }),
      fc.object({ maxDepth: 1 }),
    );
    const broken = fc.oneof(
      fc
        .tuple(validEvent, fc.oneof(oddString, notAString))
        .filter(([, type]) => type !== 'ticket.closed' && type !== 'ticket.reopened')
        .map(([event, type]) => ({ ...event, type })),
      fc
        .tuple(
          validEvent,
          fc.oneof(
            notAString,
            fc.constantFrom('', 'yesterday', '2026-11-28', '2026-13-01T00:00:00Z', '2026-11-28T10:00:00'),
          ),
        )
        .map(([event, occurredAt]) => ({ ...event, occurredAt })),
      fc
        .tuple(validEvent, notAnId, fc.constantFrom('locationId', 'contactId', 'taskId'))
        .map(([event, id, field]) => ({
          ...event,
          ghl: { contactId: 'c1', taskId: 't1', ...event.ghl, [field]: id },
        })),
      fc.tuple(validEvent, fc.constantFrom('contactId', 'taskId')).map(([event, field]) => {
        const ghl: Record<string, unknown> = { contactId: 'c1', taskId: 't1', ...event.ghl };
        delete ghl[field];
        return { ...event, ghl };
      }),
      fc
        .tuple(
          validEvent,
          fc.oneof(
            fc.constant(''),
            fc.string({ minLength: 257, maxLength: 300, unit: 'grapheme-ascii' }),
            notAString,
          ),
        )
        .map(([event, id]) => ({ ...event, ticket: { id } })),
      validEvent.map((event) => {
        const { ticket: _ticket, ...rest } = event;
        return { ...rest, ghl: { locationId: event.ghl?.locationId ?? 'loc' } };
      }),
      validEvent.map((event) => {
        const { type: _type, ...rest } = event;
        return rest;
      }),
    );
    fc.assert(
      fc.property(broken, (event) => {
        expect(TaskEvent.safeParse(event).success).toBe(false);
      }),
      runs(400),
    );
  });

  it('When a valid job has one broken field, then TaskUpdateJob refuses it', () => {
    const broken = fc.oneof(
      fc
        .tuple(validJob, oddValue)
        .filter(([, v]) => v !== 1)
        .map(([job, v]) => ({ ...job, v })),
      fc
        .tuple(
          validJob,
          fc.oneof(oddString, fc.constantFrom('', 'Events', '1abc', 'a'.repeat(33), 'a_b', 'a:b')),
        )
        .filter(([, name]) => !/^[a-z][a-z0-9-]{0,31}$/.test(name))
        .map(([job, name]) => ({ ...job, source: name })),
      fc
        .tuple(validJob, fc.oneof(fc.constantFrom('', 'a b', 'é', 'x'.repeat(257)), oddString))
        .filter(([, key]) => !/^[\x21-\x7e]{1,256}$/.test(key))
        .map(([job, key]) => ({ ...job, idempotencyKey: key })),
      fc
        .tuple(validJob, fc.constantFrom('', 'now', '2026-11-28', 1_700_000_000_000))
        .map(([job, at]) => ({ ...job, receivedAt: at })),
      fc
        .tuple(validJob, oddValue)
        .map(([job, match]) => ({ ...job, match: { ticketPattern: match, extra: 1 } })),
      fc
        .tuple(validJob, weirdKey, oddValue)
        .map(([job, key, value]) => defined(JSON.parse(JSON.stringify(job)) as object, key, value)),
    );
    fc.assert(
      fc.property(broken, (job) => {
        expect(TaskUpdateJob.safeParse(JSON.parse(JSON.stringify(job))).success).toBe(false);
      }),
      runs(300),
    );
  });

  it('When any source and idempotency key are given, then the job id is stable, has no ":", is not all digits and fits BullMQ', () => {
    fc.assert(
      fc.property(source, idempotencyKey, idempotencyKey, (name, key, other) => {
        const id = jobIdFor(name, key);
        expect(id).toBe(jobIdFor(name, key));
        expect(id).toMatch(/^[a-z][a-z0-9-]{0,31}-[0-9a-f]{32}$/);
        if (other !== key) expect(jobIdFor(name, other)).not.toBe(id);
      }),
      runs(300),
    );
  });
});
