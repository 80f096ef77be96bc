import type { SourcePreset } from '../preset.js';
import { templatePreset } from '../template-body.js';

/**
 * Any sender that can make an HTTP request from a template but signs nothing: Gorgias HTTP
 * integrations, Jira automation "Send web request", a script (docs/senders/token.md). The body is
 * closeloop's template body (template-body.ts); the secret as Bearer, Basic password or header.
 */
export const token: SourcePreset = templatePreset('token', {
  closed: ['closed', 'solved', 'resolved', 'done', 'completed'],
  reopened: ['open', 'reopened', 'pending', 'new'],
});
