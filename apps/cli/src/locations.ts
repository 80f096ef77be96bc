import type { CompanySummary, CredentialStore, LocationSummary } from '@closeloop/credentials';
import { Option, type Command } from 'commander';
import { recordExitCode, type CliContext, type CliIo } from './context.js';
import {
  connectCredentialStore,
  loadCredentialSettings,
  loadCredentialsLibrary,
  type CredentialSettings,
} from './credentials.js';
import { CliError, EXIT, usageError, type ExitCode } from './errors.js';
import { createOutput, plural, truncate, type Output } from './output.js';

/**
 * `closeloop locations add | list | remove | rekey`: the GHL credentials per location in the
 * encrypted store of packages/credentials (its README: layout, key rotation). Nothing here ever
 * prints, logs or echoes a token: `list` shows the store's metadata only, and a bad token is
 * described, not quoted.
 */
export function registerLocationsCommands(program: Command, context: CliContext): void {
  const locations = program
    .command('locations')
    .description(
      'GHL credentials per location in the encrypted store (CREDENTIALS_KEY): add, list, remove, rekey',
    )
    .helpCommand(false);

  locations
    .command('add')
    .description(
      "store a sub-account Private Integration Token for a location, replacing what is stored for it (an OAuth install's tokens too)",
    )
    .argument('<locationId>', 'the GHL location (sub-account) id')
    .addOption(
      new Option(
        '--token <pit>',
        'the Private Integration Token (it stays in your shell history: prefer --token-stdin)',
      ).conflicts('tokenStdin'),
    )
    .option(
      '--token-stdin',
      'read the token from standard input (a pipe or a file; at a terminal, paste it, then Enter and Ctrl-D)',
    )
    .action(
      recordExitCode(context, (locationId: string, options: AddOptions) =>
        addCommand(context, locationId, options),
      ),
    );

  locations
    .command('list')
    .description(
      'every location with stored credentials or approved by a company install: id, kind, expiry, company, ' +
        'whether it must be reconnected; never a token',
    )
    .option('--json', 'print {locations, companies} as one JSON document')
    .action(
      recordExitCode(context, (options: { json?: boolean }) =>
        withStore(context, (store) => listCommand(store, createOutput(context.io, options.json === true))),
      ),
    );

  locations
    .command('remove')
    .description("delete a location's stored credentials (and its needs-reconnection mark)")
    .argument('<locationId>', 'the GHL location (sub-account) id')
    .action(
      recordExitCode(context, async (locationId: string) => {
        await checkLocationId(locationId);
        return withStore(context, (store) =>
          removeCommand(store, createOutput(context.io, false), locationId),
        );
      }),
    );

  locations
    .command('rekey')
    .description(
      're-encrypt every stored record with the first key of CREDENTIALS_KEY and print how many were ' +
        'rewritten (key rotation: packages/credentials/README.md); safe while workers run',
    )
    .option('--json', 'print {rekeyed, keyId} as JSON')
    .action(
      recordExitCode(context, (options: { json?: boolean }) =>
        withSettings(context, (store, settings) =>
          rekeyCommand(store, settings, createOutput(context.io, options.json === true)),
        ),
      ),
    );
}

interface AddOptions {
  token?: string;
  tokenStdin?: boolean;
}

/** A bearer token goes into an Authorization header: printable ASCII, no spaces (RFC 6750 §2.1, roughly). */
const BEARER_TOKEN = /^[\x21-\x7e]+$/;
const MAX_TOKEN_LENGTH = 4_096;

async function withStore(
  context: CliContext,
  run: (store: CredentialStore) => Promise<ExitCode>,
): Promise<ExitCode> {
  return withSettings(context, (store) => run(store));
}

async function withSettings(
  context: CliContext,
  run: (store: CredentialStore, settings: CredentialSettings) => Promise<ExitCode>,
): Promise<ExitCode> {
  const settings = await loadCredentialSettings(context.io.env);
  const opened = await connectCredentialStore(settings);
  try {
    return await run(opened.store, settings);
  } finally {
    await opened.close();
  }
}

/** The store's own id rule (packages/credentials/src/records.ts `GhlId`), as a usage error before connecting. */
async function checkLocationId(locationId: string): Promise<void> {
  const { GhlId } = await loadCredentialsLibrary();
  const parsed = GhlId.safeParse(locationId);
  if (!parsed.success) {
    throw usageError(
      `<locationId>: ${parsed.error.issues.map((issue) => issue.message).join('; ')} (1 to 128 characters)`,
    );
  }
}

async function addCommand(context: CliContext, locationId: string, options: AddOptions): Promise<ExitCode> {
  await checkLocationId(locationId);
  const token = await tokenFrom(context.io, options);
  return withStore(context, async (store) => {
    const { CredentialsDecryptError } = await loadCredentialsLibrary();
    let replaced: string | undefined;
    try {
      replaced = (await store.readLocation(locationId))?.record.kind;
    } catch (error) {
      // A value no key decrypts is replaced like any other: a new token is the way out of it.
      if (!(error instanceof CredentialsDecryptError)) throw error;
      replaced = 'unreadable';
    }
    await store.putLocation({ kind: 'pit', locationId, token });
    createOutput(context.io, false).line(
      `stored a Private Integration Token for location ${locationId}` +
        (replaced === undefined ? '' : ` (replaced its ${replaced} credentials)`),
    );
    return EXIT.ok;
  });
}

/** The token of `--token` or `--token-stdin`, checked; a problem is described, the value never shown. */
async function tokenFrom(io: CliIo, options: AddOptions): Promise<string> {
  if (options.token === undefined && options.tokenStdin !== true) {
    throw usageError('add: give the token with --token-stdin (or --token <pit>)');
  }
  const source = options.tokenStdin === true ? '--token-stdin' : '--token';
  const token = options.tokenStdin === true ? await readStdin(io) : (options.token ?? '');
  if (token === '') throw usageError(`${source}: the token is empty`);
  if (token.length > MAX_TOKEN_LENGTH || !BEARER_TOKEN.test(token)) {
    throw usageError(
      `${source}: the token must be printable ASCII without spaces, at most ${MAX_TOKEN_LENGTH} characters (value not shown)`,
    );
  }
  return token;
}

/** All of stdin, without the surrounding whitespace (the newline of `echo`, or of Enter at a terminal). */
async function readStdin(io: CliIo): Promise<string> {
  if (io.stdin.isTTY) io.stderr.write('Paste the token, then press Enter and Ctrl-D:\n');
  let text = '';
  for await (const chunk of io.stdin) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (text.length > MAX_TOKEN_LENGTH * 2) break;
  }
  return text.trim();
}

async function listCommand(store: CredentialStore, output: Output): Promise<ExitCode> {
  const [locations, companies] = await Promise.all([store.list(), store.listCompanies()]);
  if (output.isJson) {
    // Field by field: should a summary ever gain a field, it reaches the output only once named here.
    output.printJson({ locations: locations.map(locationView), companies: companies.map(companyView) });
    return EXIT.ok;
  }
  if (locations.length > 0) {
    output.table(
      ['LOCATION', 'KIND', 'EXPIRES AT', 'COMPANY', 'NEEDS REAUTH'],
      locations.map((location) => [
        location.locationId,
        location.kind,
        formatTime(location.expiresAt),
        location.companyId ?? '-',
        reauthCell(location),
      ]),
    );
  }
  if (companies.length > 0) {
    output.line();
    output.line('company installs:');
    output.table(
      ['  COMPANY', 'EXPIRES AT', 'LOCATIONS', 'NEEDS REAUTH'],
      companies.map((company) => [
        `  ${company.companyId}`,
        company.unreadable ? 'unreadable' : formatTime(company.expiresAt),
        String(company.approvedLocations.length),
        reauthCell(company),
      ]),
    );
  }
  output.line(
    `${plural(locations.length, 'location')}${companies.length > 0 ? `, ${plural(companies.length, 'company install')}` : ''}`,
  );
  return EXIT.ok;
}

function locationView(location: LocationSummary): LocationSummary {
  return {
    locationId: location.locationId,
    kind: location.kind,
    ...(location.expiresAt !== undefined && { expiresAt: location.expiresAt }),
    ...(location.companyId !== undefined && { companyId: location.companyId }),
    needsReauth: location.needsReauth,
    ...(location.reauthReason !== undefined && { reauthReason: location.reauthReason }),
  };
}

function companyView(company: CompanySummary): CompanySummary {
  return {
    companyId: company.companyId,
    ...(company.expiresAt !== undefined && { expiresAt: company.expiresAt }),
    approvedLocations: company.approvedLocations,
    needsReauth: company.needsReauth,
    ...(company.reauthReason !== undefined && { reauthReason: company.reauthReason }),
    ...(company.unreadable === true && { unreadable: true as const }),
  };
}

function formatTime(epochMs: number | undefined): string {
  return epochMs === undefined ? '-' : new Date(epochMs).toISOString();
}

function reauthCell(summary: { needsReauth: boolean; reauthReason?: string }): string {
  if (!summary.needsReauth) return 'no';
  return summary.reauthReason === undefined ? 'yes' : `yes: ${truncate(summary.reauthReason, 60)}`;
}

async function removeCommand(store: CredentialStore, output: Output, locationId: string): Promise<ExitCode> {
  const removed = await store.removeLocation(locationId);
  const company = await store.approvingCompany(locationId);
  // A location approved by a company install has no record of its own until its first token is
  // minted, and is minted again after a removal: say so rather than pretend it is gone.
  const minted =
    company === undefined
      ? ''
      : `; company ${company}'s install still approves it, so its tokens will be minted again (remove or reinstall that install to stop)`;
  if (!removed) {
    output.note(`closeloop: no credentials stored for location ${locationId}${minted}`);
    return EXIT.failed;
  }
  output.line(`removed the credentials of location ${locationId}${minted}`);
  return EXIT.ok;
}

async function rekeyCommand(
  store: CredentialStore,
  settings: CredentialSettings,
  output: Output,
): Promise<ExitCode> {
  const { CredentialsDecryptError } = await loadCredentialsLibrary();
  const keyId = settings.key.primaryKeyId;
  let rekeyed: number;
  try {
    rekeyed = await store.rekey();
  } catch (error) {
    // Its message names the Redis keys and key ids only (packages/credentials/src/store.ts `rekey`).
    if (error instanceof CredentialsDecryptError) {
      throw new CliError(
        `${error.message}. Add the key they were written with to CREDENTIALS_KEY, or remove them, then run rekey again`,
        EXIT.failed,
      );
    }
    throw error;
  }
  if (output.isJson) output.printJson({ rekeyed, keyId });
  else
    output.line(`re-encrypted ${plural(rekeyed, 'record')} with key ${keyId} (the first of CREDENTIALS_KEY)`);
  return EXIT.ok;
}
