import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { GhlId, TicketPattern } from '@closeloop/queue';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SOURCE_TYPES, type SourceSettings } from './preset.js';

/**
 * SOURCES_FILE (docs/senders/README.md): the webhook sources, in JSON or YAML, read once at start and
 * validated with every problem listed. Secrets are never in the file: each source names the env var
 * that holds its secret (`secretEnv`), and that variable must be set.
 */

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const StateList = z.array(z.string().min(1).max(128)).min(1).max(64);
/** The default header for senders that sign nothing (shared-secret.ts). */
export const DEFAULT_SECRET_HEADER = 'X-Closeloop-Secret';

export const SourceEntry = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-z][a-z0-9-]{0,31}$/,
      'must be 1–32 lower-case letters, digits and "-", starting with a letter',
    )
    .refine((name) => name !== 'events', '"events" is the built-in Standard Webhooks source'),
  type: z.enum(SOURCE_TYPES),
  secretEnv: EnvName,
  locationId: GhlId.optional(),
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Senders that sign nothing: the env var of a token that must end the URL, POST /webhooks/{name}/{token}. */
  pathTokenEnv: EnvName.optional(),
  auth: z
    .strictObject({ header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name') })
    .optional(),
  states: z.strictObject({ closed: StateList.optional(), reopened: StateList.optional() }).optional(),
  match: z.strictObject({ ticketPattern: TicketPattern }).optional(),
});
export type SourceEntry = z.infer<typeof SourceEntry>;

const SourceList = z.array(SourceEntry).max(100);
/** `{sources: [...]}`, or the bare list; judged by shape so that errors name the entry, not "invalid input". */
const SourcesDocument = z.strictObject({ sources: SourceList });

/** A path token is part of the URL: URL-safe, and long enough not to be guessed. */
const MIN_PATH_TOKEN_LENGTH = 24;
const MIN_SECRET_LENGTH = 16;

export interface ConfiguredSource extends SourceSettings {
  /** Set for sources with `pathTokenEnv`: the last path segment every delivery must carry. */
  pathToken: string | undefined;
}

export type SourcesResult = { ok: true; sources: ConfiguredSource[] } | { ok: false; problems: string[] };

/** Reads and validates the file at `path`; every problem is named with the file, the source and the field. */
export function loadSourcesFile(path: string, env: Record<string, string | undefined>): SourcesResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { ok: false, problems: [`SOURCES_FILE: cannot read ${path} (${code})`] };
  }
  let document: unknown;
  try {
    document = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      ok: false,
      problems: [
        `SOURCES_FILE: ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${detail}`,
      ],
    };
  }
  return parseSources(document, env, path);
}

/** Validates an already parsed document (tests, and the file above). */
export function parseSources(
  document: unknown,
  env: Record<string, string | undefined>,
  origin = 'SOURCES_FILE',
): SourcesResult {
  const parsed = Array.isArray(document)
    ? SourceList.transform((sources) => ({ sources })).safeParse(document)
    : SourcesDocument.safeParse(document);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map(
        (issue) => `${origin}: ${describePath(document, issue.path)}: ${issue.message}`,
      ),
    };
  }
  const entries = parsed.data.sources;
  const problems: string[] = [];
  const seen = new Set<string>();
  const sources: ConfiguredSource[] = [];
  for (const entry of entries) {
    const where = `${origin}: source "${entry.name}"`;
    if (seen.has(entry.name)) problems.push(`${where}: the name is used twice`);
    seen.add(entry.name);
    const secrets = (env[entry.secretEnv] ?? '').split(/\s+/).filter((secret) => secret !== '');
    if (secrets.length === 0) problems.push(`${where}: ${entry.secretEnv} (secretEnv) is not set`);
    else if (secrets.some((secret) => secret.length < MIN_SECRET_LENGTH)) {
      problems.push(
        `${where}: ${entry.secretEnv} must hold secrets of at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
    let pathToken: string | undefined;
    if (entry.pathTokenEnv !== undefined) {
      pathToken = env[entry.pathTokenEnv]?.trim() || undefined;
      if (pathToken === undefined) problems.push(`${where}: ${entry.pathTokenEnv} (pathTokenEnv) is not set`);
      else if (!new RegExp(`^[A-Za-z0-9_-]{${MIN_PATH_TOKEN_LENGTH},256}$`).test(pathToken)) {
        problems.push(
          `${where}: ${entry.pathTokenEnv} must be ${MIN_PATH_TOKEN_LENGTH}–256 URL-safe characters (letters, digits, "-", "_")`,
        );
      }
    }
    if (entry.publicUrl !== undefined && entry.type !== 'hubspot') {
      problems.push(`${where}: publicUrl is only used by the hubspot type`);
    }
    sources.push({
      name: entry.name,
      type: entry.type,
      secrets,
      locationId: entry.locationId,
      publicUrl: entry.publicUrl,
      states: { closed: entry.states?.closed, reopened: entry.states?.reopened },
      auth: { header: entry.auth?.header ?? DEFAULT_SECRET_HEADER },
      ticketPattern: entry.match?.ticketPattern,
      pathToken,
    });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, sources };
}

/** `sources[2].secretEnv` becomes `source "zendesk" secretEnv` when the entry has a readable name. */
function describePath(document: unknown, path: readonly PropertyKey[]): string {
  const list = Array.isArray(document) ? document : (document as { sources?: unknown } | null)?.sources;
  const offset = Array.isArray(document) ? 0 : 1;
  const index = path[offset];
  if (Array.isArray(list) && typeof index === 'number') {
    const name = (list[index] as { name?: unknown } | undefined)?.name;
    const rest = path
      .slice(offset + 1)
      .map(String)
      .join('.');
    const label = typeof name === 'string' ? `source "${name.slice(0, 32)}"` : `sources[${index}]`;
    return rest ? `${label} ${rest}` : label;
  }
  return path.map(String).join('.') || '(root)';
}
