import { readHeader } from '../crypto.js';
import { buildEvent, field, invalidBody, stringField, type SourcePreset } from '../preset.js';
import { deliveryKey, verifySha256HubSignature } from './github.js';

/**
 * Jira Cloud webhooks with a secret (docs/senders/jira.md).
 *
 * Scheme: a webhook registered with a `secret` is signed `X-Hub-Signature: sha256=<hex
 * HMAC-SHA256(secret, body)>`, the WebSub format ("Secure admin webhooks",
 * https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks): GitHub's
 * scheme under another header name, so the same verifier (github.ts) serves both. Webhooks without
 * a secret are unsigned and cannot use this preset (use `token` with a path token instead).
 * `X-Atlassian-Webhook-Identifier` is the same on every retry of one delivery (same page,
 * "Retry policy"): it is the idempotency key.
 *
 * Payload (same page, "Example callback for an issue-related event"): `{timestamp (ms), webhookEvent:
 * "jira:issue_updated", issue: {key, self, fields: {status: {name, statusCategory: {key}}, reporter:
 * {emailAddress?}}}, changelog: {items: [{field: "status", fromString, toString}]}}`. The status
 * category keys are `new`, `indeterminate` and `done`
 * (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-workflow-status-categories/).
 *
 * Close: the update changes the status and the issue's status category is now `done`. Reopen: the
 * status changes from a "done" status (by name: `settings.states.closed`, default Done, Closed,
 * Resolved, compared case-insensitively with the changelog's `fromString`) to one whose category is
 * not `done`. `settings.states.reopened` is not used. The reporter's email comes when the user's
 * privacy settings show it (often hidden; the worker then matches by the issue key alone).
 */
const DEFAULT_DONE_STATUS_NAMES = ['Done', 'Closed', 'Resolved'];

export const jira: SourcePreset = {
  type: 'jira',
  authenticate(request, settings) {
    verifySha256HubSignature(request, settings, 'X-Hub-Signature');
  },
  map(body, request, settings) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw invalidBody('A Jira delivery is a JSON object');
    }
    const webhookEvent = stringField(body, 'webhookEvent');
    if (webhookEvent === undefined) throw invalidBody('A Jira delivery needs webhookEvent');
    if (webhookEvent !== 'jira:issue_updated') {
      return { kind: 'ignored', reason: `Jira event "${webhookEvent.slice(0, 64)}" is not an issue update` };
    }
    const issueKey = stringField(body, 'issue', 'key');
    if (issueKey === undefined || !/^[A-Za-z][A-Za-z0-9_]*-\d+$/.test(issueKey)) {
      throw invalidBody('A Jira issue update needs issue.key (e.g. "PROJ-42")');
    }
    const items = field(body, 'changelog', 'items');
    const statusChange = Array.isArray(items)
      ? (items as unknown[]).find(
          (item) => stringField(item, 'field') === 'status' || stringField(item, 'fieldId') === 'status',
        )
      : undefined;
    if (statusChange === undefined)
      return { kind: 'ignored', reason: 'the update does not change the status' };

    const from = stringField(statusChange, 'fromString') ?? '';
    const to = stringField(statusChange, 'toString') ?? '';
    const doneNames = (settings.states.closed ?? DEFAULT_DONE_STATUS_NAMES).map((name) => name.toLowerCase());
    const category = stringField(body, 'issue', 'fields', 'status', 'statusCategory', 'key');
    // Without a category (a trimmed payload), the new status's name decides, against the same names.
    const nowDone = category !== undefined ? category === 'done' : doneNames.includes(to.toLowerCase());
    const type = nowDone
      ? 'ticket.closed'
      : doneNames.includes(from.toLowerCase())
        ? 'ticket.reopened'
        : undefined;
    if (type === undefined) {
      return {
        kind: 'ignored',
        reason: `status "${from.slice(0, 64)}" → "${to.slice(0, 64)}" neither closes nor reopens`,
      };
    }
    const timestamp = field(body, 'timestamp');
    const occurredAt =
      typeof timestamp === 'number' && Number.isFinite(timestamp) ? new Date(timestamp) : request.receivedAt;
    const event = buildEvent(
      {
        type,
        occurredAt,
        ticketId: issueKey,
        ticketUrl: browseUrl(stringField(body, 'issue', 'self'), issueKey),
        email: stringField(body, 'issue', 'fields', 'reporter', 'emailAddress'),
      },
      settings,
    );
    const identifier = readHeader(request.headers, 'x-atlassian-webhook-identifier');
    // Without the header (a proxy dropped it), issue + new status + time: a retry carries the same ones.
    const idempotencyKey = deliveryKey(
      identifier ??
        `${issueKey}:${to.toLowerCase()}:${typeof timestamp === 'number' ? timestamp : occurredAt.getTime()}`,
    );
    return { kind: 'events', events: [{ idempotencyKey, event }], ignored: [] };
  },
};

/** `https://site.atlassian.net/rest/api/2/issue/10002` → `https://site.atlassian.net/browse/PROJ-42`. */
function browseUrl(self: string | undefined, issueKey: string): string | undefined {
  if (self === undefined || !URL.canParse(self)) return undefined;
  const url = new URL(self);
  return url.protocol === 'https:' || url.protocol === 'http:'
    ? `${url.origin}/browse/${issueKey}`
    : undefined;
}
