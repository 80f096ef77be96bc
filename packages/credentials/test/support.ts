import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { createOAuthClient, type CreateOAuthClientOptions, type OAuthClient } from '../src/index.js';

export const CLIENT_ID = '65f0c0ffee0000000000000a-abc123';
export const CLIENT_SECRET = 'sandbox-client-secret-7f3e9a';
export const REDIRECT_URI = 'https://closeloop.example/oauth/callback';

/** The GHL sandbox with one marketplace app seeded (the sandbox keeps grants in memory: one per test file). */
export async function startOAuthSandbox(
  options: { accessTokenTtlMs?: number } = {},
): Promise<RunningSandbox> {
  const sandbox = await startSandbox(options);
  await sandbox.control.seed({
    oauth: { apps: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI }] },
  });
  return sandbox;
}

export function oauthClientFor(
  sandbox: RunningSandbox,
  overrides: Partial<CreateOAuthClientOptions> = {},
): OAuthClient {
  return createOAuthClient({
    baseUrl: sandbox.url,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
    timeoutMs: 2_000,
    ...overrides,
  });
}

let codes = 0;

/** Seeds a single-use install code for a Location or Company install and returns it. */
export async function seedInstallCode(
  sandbox: RunningSandbox,
  install:
    | { userType: 'Location'; locationId: string }
    | { userType: 'Company'; companyId: string; approvedLocations: string[] },
): Promise<string> {
  codes += 1;
  const code = `install-code-${process.pid}-${codes}-${Math.random().toString(36).slice(2)}`;
  await sandbox.control.seed({ oauth: { codes: [{ code, clientId: CLIENT_ID, ...install }] } });
  return code;
}

/** How many refresh-token grants reached the sandbox (the form is recorded with secrets redacted). */
export async function refreshCalls(sandbox: RunningSandbox): Promise<number> {
  const calls = await sandbox.control.calls({ path: '/oauth/token', method: 'POST' });
  return calls.filter(
    (call) => (call.body as Record<string, unknown> | undefined)?.grant_type === 'refresh_token',
  ).length;
}
