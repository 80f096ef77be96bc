import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TaskEvent, type TaskEventType } from '@closeloop/queue';
import { SourceError } from './source-error.js';

/** The vendor presets a source can be (docs/senders/README.md). */
export const SOURCE_TYPES = [
  'zendesk',
  'freshdesk',
  'helpscout',
  'intercom',
  'hubspot',
  'linear',
  'jira',
  'github',
  'token',
] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** One delivery as it reached the receiver: authenticity is judged over exactly these bytes. */
export interface SourceRequest {
  method: string;
  /** Path and query as received, e.g. `/webhooks/hubspot?x=1` (HubSpot signs the URI it called). */
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
  receivedAt: Date;
}

/** A source of the sources file, with its secrets read from the environment (sources-file.ts). */
export interface SourceSettings {
  /** The path segment: POST /webhooks/{name}. */
  name: string;
  type: SourceType;
  /** From the env var named by `secretEnv`; several (space-separated) during a rotation. */
  secrets: readonly string[];
  /** The sub-account the source's tickets belong to; unset in single-location mode. */
  locationId: string | undefined;
  /**
   * HubSpot: the public URL of this source as HubSpot calls it (scheme, host, path), because a proxy
   * in front of the receiver may rewrite the URL HubSpot signed.
   */
  publicUrl: string | undefined;
  /** Overrides of the preset's closed / reopened values (e.g. HubSpot pipeline stage ids). */
  states: { closed: readonly string[] | undefined; reopened: readonly string[] | undefined };
  /** Senders that sign nothing (freshdesk, token): how the shared secret is presented. */
  auth: SharedSecretAuth;
  /** The source's ticket pattern (packages/queue ticket-pattern.ts); undefined = the default. */
  ticketPattern: string | undefined;
}

/**
 * For senders that sign nothing: the secret comes as `Authorization: Bearer <secret>`, as the
 * password of `Authorization: Basic`, or in a header of your choice (default `X-Closeloop-Secret`).
 */
export interface SharedSecretAuth {
  header: string;
}

/** One task event to enqueue, with the key that makes its redeliveries duplicates. */
export interface MappedEvent {
  idempotencyKey: string;
  event: TaskEvent;
}

export type MapResult =
  /** `ignored`: elements of a batch (HubSpot) that are not a close or a reopen, by index. */
  | { kind: 'events'; events: MappedEvent[]; ignored: { index: number; reason: string }[] }
  /** Not a close or a reopen (another event type, a ping, another status): 202, nothing enqueued. */
  | { kind: 'ignored'; reason: string };

export interface SourcePreset {
  readonly type: SourceType;
  /**
   * The vendor's scheme over the raw bytes. Throws SourceError (MISSING_SIGNATURE_HEADERS,
   * INVALID_SIGNATURE_HEADERS, INVALID_SIGNATURE, SIGNATURE_EXPIRED, UNAUTHORIZED) unless genuine.
   */
  authenticate(request: SourceRequest, settings: SourceSettings): void;
  /**
   * The parsed JSON body (authenticated) → task events, or ignored. Throws SourceError INVALID_BODY
   * for a body that is not the vendor's shape.
   */
  map(body: unknown, request: SourceRequest, settings: SourceSettings): MapResult;
}

export interface EventFields {
  type: TaskEventType;
  /** When the vendor says it happened; the receive time when it says nothing. */
  occurredAt: Date | string | number;
  ticketId: string;
  ticketUrl?: string | undefined;
  email?: string | undefined;
  /** GHL ids a templated body carried (e.g. a Zendesk custom field); both or none. */
  contactId?: string | undefined;
  taskId?: string | undefined;
}

/**
 * The task event for one close or reopen, validated against the queue's schema (a vendor value that
 * would make an invalid job, e.g. a malformed email, is a 400 INVALID_BODY here, not a dead letter
 * later). Blank optional values count as absent: templates render missing placeholders as "".
 */
export function buildEvent(fields: EventFields, settings: SourceSettings): TaskEvent {
  const blank = (value: string | undefined): string | undefined =>
    value === undefined || value.trim() === '' ? undefined : value.trim();
  const occurredAt = new Date(fields.occurredAt);
  const email = blank(fields.email);
  const ticketUrl = blank(fields.ticketUrl);
  const contactId = blank(fields.contactId);
  const taskId = blank(fields.taskId);
  const ghl = {
    ...(settings.locationId !== undefined && { locationId: settings.locationId }),
    ...(contactId !== undefined && { contactId }),
    ...(taskId !== undefined && { taskId }),
  };
  const candidate = {
    type: fields.type,
    occurredAt: Number.isNaN(occurredAt.getTime()) ? String(fields.occurredAt) : occurredAt.toISOString(),
    ticket: { id: fields.ticketId.trim(), ...(ticketUrl !== undefined && { url: ticketUrl }) },
    ...(email !== undefined && { requester: { email } }),
    ...(Object.keys(ghl).length > 0 && { ghl }),
  };
  const parsed = TaskEvent.safeParse(candidate);
  if (!parsed.success) {
    throw new SourceError(
      'INVALID_BODY',
      'The delivery does not make a valid task event',
      parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.') || '(root)',
        message: issue.message,
      })),
    );
  }
  return parsed.data;
}

/** For presets: a body that is not the vendor's shape. */
export function invalidBody(message: string): SourceError {
  return new SourceError('INVALID_BODY', message);
}

/** A small reader for untrusted JSON: a property of an object, or undefined. */
export function field(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** A string or a finite number as a string (ids come as either); undefined otherwise. */
export function stringField(value: unknown, ...path: (string | number)[]): string | undefined {
  const found = field(value, ...path);
  if (typeof found === 'string') return found;
  if (typeof found === 'number' && Number.isFinite(found)) return String(found);
  return undefined;
}

/**
 * A vendor's delivery id as an idempotency key: kept as sent when it is printable ASCII of at most
 * 256 characters (the queue's IdempotencyKey), else its SHA-256, so an odd id still dedupes.
 */
export function deliveryKey(id: string): string {
  return /^[\x21-\x7e]{1,256}$/.test(id) ? id : createHash('sha256').update(id).digest('hex');
}
