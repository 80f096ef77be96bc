import { z } from 'zod';

/**
 * Test data loaded through `POST /__sandbox/seed` (or SANDBOX_SEED_FILE). Seeding is additive: an
 * entry whose id already exists replaces the old one.
 */
export const SandboxSeed = z.object({
  locations: z.array(z.object({ id: z.string().min(1), tokens: z.array(z.string().min(1)) })).optional(),
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
});
export type SandboxSeed = z.infer<typeof SandboxSeed>;

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
  /** Parsed JSON request body, or the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  /** Status answered; 0 while in flight and when the connection was reset. */
  status: number;
  responseBody: unknown;
}
