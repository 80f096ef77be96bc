import { MissingCredentialsError, type GhlError } from './errors.js';

/**
 * Where the client gets a bearer token for a location. Task paths carry no locationId
 * (docs/ghl-api.md §4), so the caller passes it along with each call and the provider maps it to a
 * token: a static Private Integration Token now, an OAuth store later.
 */
export interface CredentialsProvider {
  /**
   * The token to send for `locationId` (undefined in single-location mode). Throw
   * MissingCredentialsError when there is none; the client reports it as GhlError NO_CREDENTIALS.
   */
  getToken(locationId: string | undefined): Promise<string>;
  /**
   * Called once when GHL answers 401 to `rejectedToken`. Resolve true after obtaining a new token
   * (e.g. an OAuth refresh): the client then calls getToken again and retries the request exactly
   * once; a second 401 is thrown as UNAUTHORIZED without calling this again. Resolve false when
   * refreshing cannot help — `error` carries GHL's body, since a 401 also means a missing Version
   * header, a missing scope or an agency token on a location route (docs/ghl-api.md), which no refresh
   * fixes.
   */
  onUnauthorized?(locationId: string | undefined, rejectedToken: string, error: GhlError): Promise<boolean>;
}

/**
 * Static Private Integration Tokens: PITs never refresh (docs/ghl-api.md §3), so there is no
 * onUnauthorized and a 401 is final.
 *
 * - `new StaticTokenCredentials(token)`: single-location; the token is used whatever locationId the
 *   call names (GHL itself answers 403 when it belongs to another location).
 * - `new StaticTokenCredentials({ [locationId]: token, … })`: multi-location. A call without a
 *   locationId uses the only entry when there is exactly one; an unknown location (or a missing one
 *   with several entries) throws MissingCredentialsError → GhlError NO_CREDENTIALS without a status,
 *   because it is a configuration error that retrying cannot fix and sending no request at all is
 *   better than guessing a token.
 */
export class StaticTokenCredentials implements CredentialsProvider {
  readonly #single: string | undefined;
  readonly #byLocation: ReadonlyMap<string, string>;

  constructor(tokens: string | Readonly<Record<string, string>>) {
    if (typeof tokens === 'string') {
      if (tokens.trim() === '') throw new TypeError('StaticTokenCredentials: the token is empty');
      this.#single = tokens;
      this.#byLocation = new Map();
      return;
    }
    const entries = Object.entries(tokens);
    if (entries.length === 0) throw new TypeError('StaticTokenCredentials: no location tokens given');
    for (const [locationId, token] of entries) {
      // Names the location, never the token value.
      if (token.trim() === '')
        throw new TypeError(`StaticTokenCredentials: the token for location ${locationId} is empty`);
    }
    this.#byLocation = new Map(entries);
    this.#single = entries.length === 1 ? entries[0]?.[1] : undefined;
  }

  getToken(locationId: string | undefined): Promise<string> {
    if (this.#byLocation.size === 0 && this.#single !== undefined) return Promise.resolve(this.#single);
    if (locationId === undefined) {
      if (this.#single !== undefined) return Promise.resolve(this.#single);
      return Promise.reject(
        new MissingCredentialsError(
          `No locationId given and ${this.#byLocation.size} locations have tokens: the call must name its location`,
          undefined,
        ),
      );
    }
    const token = this.#byLocation.get(locationId);
    if (token === undefined) {
      return Promise.reject(
        new MissingCredentialsError(`No GHL token is configured for location ${locationId}`, locationId),
      );
    }
    return Promise.resolve(token);
  }
}
