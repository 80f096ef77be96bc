import { createHash } from 'node:crypto';
import { hmac, invalidSignature, matchesAnySecret, readHeader, requireHeaders } from '../crypto.js';
import {
  buildEvent,
  field,
  invalidBody,
  stringField,
  type SourcePreset,
  type SourceRequest,
  type SourceSettings,
} from '../preset.js';
import { SourceError } from '../source-error.js';

/**
 * GitHub issues (docs/senders/github.md).
 *
 * Scheme: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` over the payload as sent
 * (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries). Headers
 * `X-GitHub-Event` and `X-GitHub-Delivery` (a GUID) come with every delivery
 * (https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers); the GUID is
 * "shared with all deliveries" of one event, so a redelivery is a duplicate
 * (https://docs.github.com/en/rest/repos/webhooks#list-deliveries-for-a-repository-webhook).
 * Payload: event `issues`, `action` `closed` / `reopened`, `issue.number`, `repository.full_name`
 * (https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues). No requester email.
 *
 * Why the HMAC is written here and not with `@octokit/webhooks-methods` (installed, and exactly
 * GitHub's scheme): its `verify(secret, payload: string, signature)` is async (a Promise), while
 * `SourcePreset.authenticate` is synchronous (preset.ts, called without await by the receiver), and it
 * takes the payload as a string, so a Buffer would have to be decoded first (invalid UTF-8 turned
 * into U+FFFD would let two byte strings share a signature). Over the raw bytes with node:crypto the
 * check is the same three lines with no decoding at all; the tests check it against the library.
 */
export const github: SourcePreset = {
  type: 'github',
  authenticate(request, settings) {
    requireHeaders(request.headers, ['x-github-event', 'x-github-delivery']);
    verifySha256HubSignature(request, settings, 'X-Hub-Signature-256');
  },
  map(body, request, settings) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw invalidBody('A GitHub delivery is a JSON object');
    }
    const eventName = readHeader(request.headers, 'x-github-event') ?? '';
    if (eventName === 'ping') return { kind: 'ignored', reason: 'GitHub ping (the webhook was saved)' };
    if (eventName !== 'issues') {
      return { kind: 'ignored', reason: `GitHub event "${eventName.slice(0, 64)}" is not about issues` };
    }
    const action = stringField(body, 'action');
    if (action === undefined) throw invalidBody('An issues event needs an action');
    const type =
      action === 'closed' ? 'ticket.closed' : action === 'reopened' ? 'ticket.reopened' : undefined;
    if (type === undefined) {
      return { kind: 'ignored', reason: `issues action "${action.slice(0, 64)}" neither closes nor reopens` };
    }
    const repository = stringField(body, 'repository', 'full_name');
    const number = field(body, 'issue', 'number');
    if (repository === undefined || !/^[^\s/]+\/[^\s/]+$/.test(repository)) {
      throw invalidBody('An issues event needs repository.full_name ("owner/repo")');
    }
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number <= 0) {
      throw invalidBody('An issues event needs issue.number (a positive integer)');
    }
    // closed_at is when it was closed; on a reopen it still holds the old close, so updated_at.
    const when =
      (type === 'ticket.closed' ? stringField(body, 'issue', 'closed_at') : undefined) ??
      stringField(body, 'issue', 'updated_at');
    const event = buildEvent(
      {
        type,
        occurredAt: validTime(when) ?? request.receivedAt,
        ticketId: githubTicketRef(repository, number),
        ticketUrl: stringField(body, 'issue', 'html_url'),
      },
      settings,
    );
    const delivery = readHeader(request.headers, 'x-github-delivery') ?? '';
    return { kind: 'events', events: [{ idempotencyKey: deliveryKey(delivery), event }], ignored: [] };
  },
};

/** What a human writes in a GHL task title for a GitHub issue: `owner/repo#12`. */
export function githubTicketRef(repositoryFullName: string, issueNumber: number): string {
  return `${repositoryFullName}#${issueNumber}`;
}

const SHA256_HUB_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * `<header>: sha256=<hex HMAC-SHA256(secret, raw body)>`: GitHub's `X-Hub-Signature-256` and Jira
 * Cloud's `X-Hub-Signature` (WebSub "method=signature", https://www.w3.org/TR/websub/#signing-content)
 * are the same scheme. Hex case is not significant, so it is compared in lower case.
 */
export function verifySha256HubSignature(
  request: SourceRequest,
  settings: SourceSettings,
  headerName: string,
): void {
  const [signature] = requireHeaders(request.headers, [headerName]);
  const hex = SHA256_HUB_SIGNATURE.exec(signature.trim())?.[1];
  if (hex === undefined) {
    throw new SourceError(
      'INVALID_SIGNATURE_HEADERS',
      `${headerName} must be "sha256=" followed by 64 hex digits`,
    );
  }
  const received = hex.toLowerCase();
  if (
    !matchesAnySecret(settings.secrets, received, (secret) => hmac('sha256', secret, request.rawBody, 'hex'))
  ) {
    throw invalidSignature(headerName);
  }
}

/**
 * A vendor's delivery id as the idempotency key: printable ASCII up to 256 characters as is,
 * anything else (longer, spaces, control or non-ASCII characters) as its SHA-256.
 */
export function deliveryKey(deliveryId: string): string {
  return /^[\x21-\x7e]{1,256}$/.test(deliveryId)
    ? deliveryId
    : createHash('sha256').update(deliveryId, 'utf8').digest('hex');
}

function validTime(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
