import { TaskEvent } from '@closeloop/queue';
import {
  PRESETS,
  SourceError,
  safeEqual,
  type ConfiguredSource,
  type MappedEvent,
  type SourceRequest,
} from '@closeloop/sources';
import { ReceiverError } from './errors.js';
import { assertJsonContentType, parseJsonBody, validateBody } from './json-body.js';
import { createSignatureVerifier } from './webhook-signature.js';

/**
 * A sender that posts to `/webhooks/:source` (docs/senders/README.md): how its deliveries are
 * authenticated, and how a delivery becomes task events. `events` is the generic Standard Webhooks
 * source, always there; the others come from SOURCES_FILE, one per entry, each with its vendor preset
 * (packages/sources). Order for every source: authenticate over the raw bytes, then judge the media
 * type, then parse and map (nothing about an unauthenticated body is looked at beyond its size).
 */
export interface WebhookSource {
  readonly name: string;
  /** False when its secret is not configured: the route answers 503 SOURCE_NOT_CONFIGURED. */
  readonly configured: boolean;
  /** Sources that sign nothing may require a last path segment: POST /webhooks/{name}/{token}. */
  acceptsPath(token: string | undefined): boolean;
  /** Throws a ReceiverError (401, 400, 415) for a delivery that is not genuine or not understood. */
  handle(request: SourceRequest): HandledDelivery;
}

export type HandledDelivery =
  | {
      kind: 'events';
      /** True when the body was a batch (HubSpot): the answer lists one result per job. */
      batch: boolean;
      events: MappedEvent[];
      ignored: { index: number; reason: string }[];
      /** The source's ticket pattern, stored with each job for the worker's lookup. */
      ticketPattern: string | undefined;
    }
  | { kind: 'ignored'; reason: string };

export function createWebhookSources(config: {
  webhookSecrets: readonly string[];
  sources: readonly ConfiguredSource[];
}): Map<string, WebhookSource> {
  const verify = createSignatureVerifier(config.webhookSecrets);
  const events: WebhookSource = {
    name: 'events',
    configured: config.webhookSecrets.length > 0,
    acceptsPath: (token) => token === undefined,
    handle(request) {
      const { webhookId } = verify(request.rawBody, request.headers);
      assertJsonContentType(request.headers['content-type']);
      const event = validateBody(TaskEvent, parseJsonBody(request.rawBody));
      return {
        kind: 'events',
        batch: false,
        events: [{ idempotencyKey: webhookId, event }],
        ignored: [],
        ticketPattern: undefined,
      };
    },
  };
  const sources = new Map<string, WebhookSource>([[events.name, events]]);
  for (const settings of config.sources) sources.set(settings.name, createVendorSource(settings));
  return sources;
}

function createVendorSource(settings: ConfiguredSource): WebhookSource {
  const preset = PRESETS[settings.type];
  return {
    name: settings.name,
    configured: settings.secrets.length > 0,
    acceptsPath(token) {
      if (settings.pathToken === undefined) return token === undefined;
      return token !== undefined && safeEqual(token, settings.pathToken);
    },
    handle(request) {
      try {
        preset.authenticate(request, settings);
        assertJsonContentType(request.headers['content-type']);
        const body = parseJsonBody(request.rawBody);
        const result = preset.map(body, request, settings);
        if (result.kind === 'ignored') return result;
        if (result.events.length === 0) {
          return {
            kind: 'ignored',
            reason: result.ignored[0]?.reason ?? 'nothing in the delivery closes or reopens a ticket',
          };
        }
        return { ...result, batch: Array.isArray(body), ticketPattern: settings.ticketPattern };
      } catch (error) {
        throw error instanceof SourceError ? toReceiverError(error) : error;
      }
    },
  };
}

function toReceiverError(error: SourceError): ReceiverError {
  return new ReceiverError(error.code, error.message, {
    ...(error.issues && {
      issues: error.issues.map((issue) => ({ path: issue.path.split('.'), message: issue.message })),
    }),
  });
}
