import { z } from 'zod';
import type { RateWindow } from './rate-limiter.js';

/**
 * Test data loaded through `POST /__sandbox/seed` (or SANDBOX_SEED_FILE). Seeding is additive: an
 * entry whose id already exists replaces the old one.
 */
/** A location's own limits (GHL grants some apps and locations other limits than the defaults). */
export const SandboxRateLimit = z
  .object({
    burstLimit: z.number().int().min(1).max(1_000_000).optional(),
    burstIntervalMs: z.number().int().min(1).max(86_400_000).optional(),
    dailyLimit: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict();
export type SandboxRateLimit = z.infer<typeof SandboxRateLimit>;

const nonEmpty = z.string().min(1);

/**
 * OAuth test data: marketplace apps (client credentials) and install codes, each code good for one
 * `POST /oauth/token` exchange (docs/ghl-api.md §3.1).
 */
export const SandboxOAuthSeed = z
  .object({
    apps: z
      .array(
        z
          .object({
            clientId: nonEmpty,
            clientSecret: nonEmpty,
            /** When given, an exchange that sends another `redirect_uri` is refused (invalid_grant). */
            redirectUri: nonEmpty.optional(),
            /** Space-separated, as GHL's `scope`; default "contacts.readonly contacts.write …". */
            scope: z.string().optional(),
          })
          .strict(),
      )
      .optional(),
    codes: z
      .array(
        z
          .object({
            code: nonEmpty,
            /** The app the code was issued to; when absent, any seeded app may exchange it. */
            clientId: nonEmpty.optional(),
            userType: z.enum(['Location', 'Company']),
            /** Required for a Location install. */
            locationId: nonEmpty.optional(),
            /** The agency; required for a Company install, optional for a Location one. */
            companyId: nonEmpty.optional(),
            /** Company installs: the locations `POST /oauth/locationToken` may mint tokens for. */
            approvedLocations: z.array(nonEmpty).optional(),
            userId: nonEmpty.optional(),
            isBulkInstallation: z.boolean().optional(),
          })
          .strict()
          .superRefine((code, ctx) => {
            if (code.userType === 'Location' && code.locationId === undefined) {
              ctx.addIssue({
                code: 'custom',
                message: 'a Location code needs locationId',
                path: ['locationId'],
              });
            }
            if (code.userType === 'Company' && code.companyId === undefined) {
              ctx.addIssue({
                code: 'custom',
                message: 'a Company code needs companyId',
                path: ['companyId'],
              });
            }
          }),
      )
      .optional(),
  })
  .strict();
export type SandboxOAuthSeed = z.infer<typeof SandboxOAuthSeed>;

export const SandboxSeed = z.object({
  locations: z
    .array(
      z.object({
        id: z.string().min(1),
        tokens: z.array(z.string().min(1)),
        /** Overrides the sandbox's limits for this location; seeding the location again without it restores them. */
        rateLimit: SandboxRateLimit.optional(),
      }),
    )
    .optional(),
  contacts: z
    .array(
      z.object({
        id: z.string().min(1),
        locationId: z.string().min(1),
        email: z.string().optional(),
        firstName: z.string().optional(),
        lastName: z.string().optional(),
      }),
    )
    .optional(),
  tasks: z
    .array(
      z.object({
        id: z.string().min(1),
        contactId: z.string().min(1),
        title: z.string().optional(),
        body: z.string().optional(),
        assignedTo: z.string().optional(),
        dueDate: z.string().optional(),
        completed: z.boolean().optional(),
      }),
    )
    .optional(),
  oauth: SandboxOAuthSeed.optional(),
});
export type SandboxSeed = z.infer<typeof SandboxSeed>;

/** `POST /__sandbox/oauth/revoke`: uninstalls an app from a location or a company. */
export const OAuthRevoke = z
  .object({
    locationId: nonEmpty.optional(),
    companyId: nonEmpty.optional(),
    /** Only this app's grants; default every app's. */
    clientId: nonEmpty.optional(),
  })
  .strict()
  .refine((revoke) => revoke.locationId !== undefined || revoke.companyId !== undefined, {
    message: 'give locationId or companyId',
  });
export type OAuthRevoke = z.infer<typeof OAuthRevoke>;

/** A fault to inject into the GHL routes (never into `/__sandbox`). */
export const FaultSpec = z.object({
  /** Answer with this status and a GHL-shaped error body; 429 carries X-RateLimit-* with Remaining 0. */
  status: z.number().int().min(100).max(599).optional(),
  /** Overrides the answer body. */
  body: z.unknown().optional(),
  /** Extra response headers, e.g. `{'retry-after': '2'}`. */
  headers: z.record(z.string(), z.string()).optional(),
  /** The next N matching calls (default 1 when `ratio` is not given). */
  count: z.number().int().positive().optional(),
  /** 0..1: that fraction of matching calls, until cleared (or until `count` applied calls if both). */
  ratio: z.number().min(0).max(1).optional(),
  /** Only calls whose path contains this task id. */
  taskId: z.string().min(1).optional(),
  /** Delay before answering; alone it makes a slow but otherwise normal answer. */
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  /** Destroy the socket without answering. */
  resetConnection: z.boolean().optional(),
  /**
   * For `PUT …/completed` only: the state change lands this many ms after the request arrived instead
   * of at once, independently of when the answer is sent (`latencyMs`). The answer still reports the
   * state that will be applied. Models GHL applying a PUT whose answer the client never saw (a
   * timeout), so that it can land after a newer PUT. With `status`, `body` or `resetConnection` the
   * fault answers as usual and nothing is applied.
   */
  applyDelayMs: z.number().int().min(0).max(600_000).optional(),
});
export type FaultSpec = z.infer<typeof FaultSpec>;

export interface SandboxOptions {
  /** Requests per location per burst window; GHL's default is 100 (docs/ghl-api.md). */
  burstLimit?: number;
  /** Burst window length; GHL's default is 10 s (docs/ghl-api.md). */
  burstIntervalMs?: number;
  /** Requests per location per (UTC) day; GHL's default is 200,000 (docs/ghl-api.md). */
  dailyLimit?: number;
  /** Accepted `Version` header values; the contacts document allows only 2021-07-28. */
  supportedVersions?: string[];
  /** How the burst window is counted (default `fixed`; docs/ghl-api.md §2). */
  rateWindow?: RateWindow;
  /** Length of the daily budget's day, aligned to multiples of it since the epoch (default 86,400,000: UTC days). */
  dayMs?: number;
  /** Lifetime of OAuth access tokens (default 86,399,000: GHL's `expires_in` 86399). */
  accessTokenTtlMs?: number;
}

export interface SandboxTask {
  id: string;
  contactId: string;
  locationId: string;
  title: string;
  body?: string;
  assignedTo?: string;
  dueDate?: string;
  completed: boolean;
  updatedAt?: string;
}

export interface SandboxContact {
  id: string;
  locationId: string;
  email?: string;
  firstName?: string;
  lastName?: string;
}

export interface RecordedCall {
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-case names; Authorization is always 'Bearer [redacted]' (absent when none was sent). */
  headers: Record<string, string>;
  /** The location the presented token belongs to, when the token is known. */
  tokenLocationId?: string;
  /** The company of a presented Company (agency) OAuth token. */
  tokenCompanyId?: string;
  /**
   * Parsed JSON request body, or the raw text when it is not JSON, or undefined when empty. On /oauth
   * routes: the form fields, with `client_secret`, `code` and `refresh_token` as '[redacted]'.
   */
  body: unknown;
  /** Status answered; 0 while in flight and when the connection was reset. */
  status: number;
  /** As answered; on /oauth routes `access_token` and `refresh_token` are '[redacted]'. */
  responseBody: unknown;
}
