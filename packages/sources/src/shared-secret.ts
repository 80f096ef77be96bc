import type { SourceRequest, SourceSettings } from './preset.js';
import { matchesAnySecret, readHeader } from './crypto.js';
import { SourceError } from './source-error.js';

/**
 * For senders that sign nothing (Freshdesk, Gorgias, Jira automation, anything with a templated
 * HTTP request): the shared secret, compared in constant time, presented in any of three ways the
 * sender's UI can produce: `Authorization: Bearer <secret>`, `Authorization: Basic` with the secret
 * as the password (any user name), or the header named by the source's `auth.header` (default
 * `X-Closeloop-Secret`). Pair it with a path token (sources-file.ts) so the URL itself is unguessable.
 */
export function authenticateSharedSecret(request: SourceRequest, settings: SourceSettings): void {
  const presented = presentedSecrets(request);
  const custom = readHeader(request.headers, settings.auth.header);
  if (custom !== undefined) presented.push(custom);
  if (presented.length === 0) {
    throw new SourceError(
      'MISSING_SIGNATURE_HEADERS',
      `Send the secret as Authorization (Bearer or Basic) or in ${settings.auth.header}`,
    );
  }
  let matched = false;
  for (const value of presented)
    if (matchesAnySecret(settings.secrets, value, (secret) => secret)) matched = true;
  if (!matched) throw new SourceError('UNAUTHORIZED', 'The secret does not match');
}

function presentedSecrets(request: SourceRequest): string[] {
  const authorization = readHeader(request.headers, 'authorization');
  if (authorization === undefined) return [];
  const [scheme = '', credentials = ''] = authorization.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') return [credentials];
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? [] : [decoded.slice(colon + 1)];
  }
  return [];
}
