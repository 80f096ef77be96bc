import type { Cluster, Redis } from 'ioredis';
import type { z } from 'zod';
import { CredentialsDecryptError, CredentialsKey } from './key.js';
import { CompanyCredentials, GhlId, LocationCredentials } from './records.js';

/** A record with the exact stored ciphertext it was read from: what `compareAndSwap` checks against. */
export interface Versioned<T> {
  record: T;
  /** The stored envelope; opaque. */
  version: string;
  /** The Redis key it lives at. */
  key: string;
}

export interface ReauthMark {
  reason: string;
  /** ISO time it was marked. */
  since: string;
}

/** What `list` shows of a location: never a token. */
export interface LocationSummary {
  locationId: string;
  /**
   * `company-approved`: no record yet, a company install lists it in approvedLocations (a token is
   * minted on first use). `unreadable`: the stored value does not decrypt under CREDENTIALS_KEY.
   */
  kind: LocationCredentials['kind'] | 'company-approved' | 'unreadable';
  expiresAt?: number;
  companyId?: string;
  needsReauth: boolean;
  reauthReason?: string;
}

export interface CompanySummary {
  companyId: string;
  expiresAt?: number;
  approvedLocations: string[];
  needsReauth: boolean;
  reauthReason?: string;
  unreadable?: true;
}

export interface LocationState {
  entry: Versioned<LocationCredentials> | undefined;
  reauth: ReauthMark | undefined;
}

export interface CompanyState {
  entry: Versioned<CompanyCredentials> | undefined;
  reauth: ReauthMark | undefined;
}

export interface CredentialStore {
  readonly prefix: string;
  /** Stores (replaces) a location's credentials and clears its needs-reauth mark: new credentials reconnect it. */
  putLocation(record: LocationCredentials): Promise<void>;
  getLocation(locationId: string): Promise<LocationCredentials | undefined>;
  readLocation(locationId: string): Promise<Versioned<LocationCredentials> | undefined>;
  /** The record and the needs-reauth mark in one round trip. */
  readLocationState(locationId: string): Promise<LocationState>;
  /** Deletes the record and the mark; true when there was a record. */
  removeLocation(locationId: string): Promise<boolean>;
  /** Every location with a record or approved by a stored company; metadata only, sorted by id. */
  list(): Promise<LocationSummary[]>;

  /** Stores (replaces) a company install; indexes its approvedLocations and clears their marks and its own. */
  putCompany(record: CompanyCredentials): Promise<void>;
  getCompany(companyId: string): Promise<CompanyCredentials | undefined>;
  readCompany(companyId: string): Promise<Versioned<CompanyCredentials> | undefined>;
  readCompanyState(companyId: string): Promise<CompanyState>;
  removeCompany(companyId: string): Promise<boolean>;
  listCompanies(): Promise<CompanySummary[]>;
  /** The company whose stored install lists `locationId` in approvedLocations. */
  approvingCompany(locationId: string): Promise<string | undefined>;

  /** Marks the location as needing reconnection; true when it was not marked yet (log once on true). */
  markNeedsReauth(locationId: string, reason: string): Promise<boolean>;
  needsReauth(locationId: string): Promise<ReauthMark | undefined>;
  clearNeedsReauth(locationId: string): Promise<void>;
  markCompanyNeedsReauth(companyId: string, reason: string): Promise<boolean>;
  companyNeedsReauth(companyId: string): Promise<ReauthMark | undefined>;
  clearCompanyNeedsReauth(companyId: string): Promise<void>;

  /**
   * Atomically replaces a record only if the stored ciphertext is still `expected.version`
   * (`expected` null: only if there is none). The refresh protocol persists each new pair this way.
   * False when someone else wrote in between.
   */
  compareAndSwap(
    expected: Versioned<LocationCredentials> | null,
    next: LocationCredentials,
  ): Promise<boolean>;
  compareAndSwap(expected: Versioned<CompanyCredentials> | null, next: CompanyCredentials): Promise<boolean>;

  /**
   * Re-encrypts every record not under the first key of CREDENTIALS_KEY; returns how many. Throws
   * CredentialsDecryptError (naming the Redis keys) after the pass when some record cannot be decrypted.
   */
  rekey(): Promise<number>;
}

export interface CreateCredentialStoreOptions {
  redis: Redis | Cluster;
  /** The key namespace, QUEUE_PREFIX in the apps; keys are `${prefix}:credentials:…`. */
  prefix: string;
  key: CredentialsKey;
}

/**
 * Replace only when the stored value is still the one read. ARGV[1] '' means "only when absent"
 * (an envelope is never empty). The index SADD rides along so a new record is always listed.
 */
const COMPARE_AND_SWAP = `
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '' and not current) or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0
`;

/** Rekey's write: only when the value is still the one re-encrypted (a refresh may have replaced it). */
const REPLACE_IF_UNCHANGED = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** Deletes the approval index only when it still points at the company being replaced or removed. */
const DELETE_IF_EQUALS = `
local removed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    removed = removed + 1
  end
end
return removed
`;

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  // Paths only: zod's messages are fine, but a value must never be echoed.
  return issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

export function createCredentialStore(options: CreateCredentialStoreOptions): CredentialStore {
  const { redis, prefix, key } = options;
  const base = `${prefix}:credentials`;
  const keys = {
    location: (id: string) => `${base}:location:${id}`,
    company: (id: string) => `${base}:company:${id}`,
    locations: `${base}:locations`,
    companies: `${base}:companies`,
    approved: (locationId: string) => `${base}:approved:${locationId}`,
    locationReauth: (id: string) => `${base}:reauth:location:${id}`,
    companyReauth: (id: string) => `${base}:reauth:company:${id}`,
  };

  function checkId(id: string, what: string): string {
    const parsed = GhlId.safeParse(id);
    if (!parsed.success) throw new TypeError(`${what} ${describeIssues(parsed.error.issues)}`);
    return id;
  }

  function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new TypeError(`Invalid ${what}: ${describeIssues(parsed.error.issues)}`);
    return parsed.data;
  }

  function open<S extends z.ZodType>(schema: S, envelope: string, redisKey: string): z.infer<S> {
    const plaintext = key.decrypt(envelope, redisKey);
    let json: unknown;
    try {
      json = JSON.parse(plaintext);
    } catch {
      throw new CredentialsDecryptError(`The value at ${redisKey} decrypts to something that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new CredentialsDecryptError(
        `The value at ${redisKey} is not a valid record: ${describeIssues(parsed.error.issues)}`,
      );
    }
    return parsed.data;
  }

  function seal(record: LocationCredentials | CompanyCredentials, redisKey: string): string {
    return key.encrypt(JSON.stringify(record), redisKey);
  }

  function parseMark(text: string | null): ReauthMark | undefined {
    if (text === null) return undefined;
    try {
      const value = JSON.parse(text) as Partial<ReauthMark>;
      return { reason: String(value.reason ?? 'unknown'), since: String(value.since ?? '') };
    } catch {
      return { reason: 'unknown', since: '' };
    }
  }

  function newMark(reason: string): string {
    return JSON.stringify({ reason, since: new Date().toISOString() } satisfies ReauthMark);
  }

  function versioned<T>(record: T, version: string, redisKey: string): Versioned<T> {
    return { record, version, key: redisKey };
  }

  async function readLocationState(locationId: string): Promise<LocationState> {
    checkId(locationId, 'locationId');
    const redisKey = keys.location(locationId);
    const [envelope, mark] = await redis.mget(redisKey, keys.locationReauth(locationId));
    return {
      entry:
        envelope == null
          ? undefined
          : versioned(open(LocationCredentials, envelope, redisKey), envelope, redisKey),
      reauth: parseMark(mark ?? null),
    };
  }

  async function readCompanyState(companyId: string): Promise<CompanyState> {
    checkId(companyId, 'companyId');
    const redisKey = keys.company(companyId);
    const [envelope, mark] = await redis.mget(redisKey, keys.companyReauth(companyId));
    return {
      entry:
        envelope == null
          ? undefined
          : versioned(open(CompanyCredentials, envelope, redisKey), envelope, redisKey),
      reauth: parseMark(mark ?? null),
    };
  }

  async function compareAndSwap(
    expected: Versioned<LocationCredentials | CompanyCredentials> | null,
    next: LocationCredentials | CompanyCredentials,
  ): Promise<boolean> {
    const isLocation = 'kind' in next;
    const record = isLocation
      ? validate(LocationCredentials, next, 'location credentials')
      : validate(CompanyCredentials, next, 'company credentials');
    const id = 'kind' in record ? record.locationId : record.companyId;
    const redisKey = isLocation ? keys.location(id) : keys.company(id);
    if (expected !== null && expected.key !== redisKey) {
      throw new TypeError(`compareAndSwap: the record read from ${expected.key} cannot replace ${redisKey}`);
    }
    const swapped = await redis.eval(
      COMPARE_AND_SWAP,
      2,
      redisKey,
      isLocation ? keys.locations : keys.companies,
      expected?.version ?? '',
      seal(record, redisKey),
      id,
    );
    return swapped === 1;
  }

  async function rekeySet(
    setKey: string,
    keyOf: (id: string) => string,
    failures: string[],
  ): Promise<number> {
    const ids = await redis.smembers(setKey);
    let count = 0;
    for (const id of ids) {
      const redisKey = keyOf(id);
      const envelope = await redis.get(redisKey);
      if (envelope === null || CredentialsKey.keyIdOfEnvelope(envelope) === key.primaryKeyId) continue;
      let plaintext: string;
      try {
        plaintext = key.decrypt(envelope, redisKey);
      } catch {
        failures.push(redisKey);
        continue;
      }
      // A refresh that replaced the value in between wrote it under the first key already.
      const replaced = await redis.eval(
        REPLACE_IF_UNCHANGED,
        1,
        redisKey,
        envelope,
        key.encrypt(plaintext, redisKey),
      );
      if (replaced === 1) count += 1;
    }
    return count;
  }

  const store: CredentialStore = {
    prefix,

    async putLocation(record) {
      const valid = validate(LocationCredentials, record, 'location credentials');
      const redisKey = keys.location(valid.locationId);
      await redis
        .multi()
        .set(redisKey, seal(valid, redisKey))
        .sadd(keys.locations, valid.locationId)
        .del(keys.locationReauth(valid.locationId))
        .exec();
    },

    async getLocation(locationId) {
      return (await store.readLocation(locationId))?.record;
    },

    async readLocation(locationId) {
      checkId(locationId, 'locationId');
      const redisKey = keys.location(locationId);
      const envelope = await redis.get(redisKey);
      return envelope === null
        ? undefined
        : versioned(open(LocationCredentials, envelope, redisKey), envelope, redisKey);
    },

    readLocationState,

    async removeLocation(locationId) {
      checkId(locationId, 'locationId');
      const results = await redis
        .multi()
        .del(keys.location(locationId))
        .srem(keys.locations, locationId)
        .del(keys.locationReauth(locationId))
        .exec();
      return results?.[0]?.[1] === 1;
    },

    async list() {
      const [locationIds, companies] = await Promise.all([
        redis.smembers(keys.locations),
        store.listCompanies(),
      ]);
      const approvedBy = new Map<string, string>();
      for (const company of companies) {
        for (const locationId of company.approvedLocations) approvedBy.set(locationId, company.companyId);
      }
      const ids = [...new Set([...locationIds, ...approvedBy.keys()])].sort();
      if (ids.length === 0) return [];
      const envelopes = await redis.mget(...ids.map((id) => keys.location(id)));
      const marks = await redis.mget(...ids.map((id) => keys.locationReauth(id)));
      return ids.map((locationId, index): LocationSummary => {
        const envelope = envelopes[index] ?? null;
        const mark = parseMark(marks[index] ?? null);
        const reauth =
          mark === undefined ? { needsReauth: false } : { needsReauth: true, reauthReason: mark.reason };
        if (envelope === null) {
          const companyId = approvedBy.get(locationId);
          return { locationId, kind: 'company-approved', ...(companyId && { companyId }), ...reauth };
        }
        let record: LocationCredentials;
        try {
          record = open(LocationCredentials, envelope, keys.location(locationId));
        } catch {
          return { locationId, kind: 'unreadable', ...reauth };
        }
        return {
          locationId,
          kind: record.kind,
          ...(record.kind !== 'pit' && { expiresAt: record.expiresAt }),
          ...(record.kind === 'company-minted' && { companyId: record.companyId }),
          ...reauth,
        };
      });
    },

    async putCompany(record) {
      const valid = validate(CompanyCredentials, record, 'company credentials');
      const redisKey = keys.company(valid.companyId);
      let previous: string[] = [];
      try {
        previous = (await store.getCompany(valid.companyId))?.approvedLocations ?? [];
      } catch {
        // An unreadable old record is simply replaced; its stale approvals stay until overwritten.
      }
      const dropped = previous.filter((id) => !valid.approvedLocations.includes(id));
      const transaction = redis
        .multi()
        .set(redisKey, seal(valid, redisKey))
        .sadd(keys.companies, valid.companyId)
        .del(keys.companyReauth(valid.companyId));
      for (const locationId of valid.approvedLocations) {
        transaction.set(keys.approved(locationId), valid.companyId).del(keys.locationReauth(locationId));
      }
      await transaction.exec();
      if (dropped.length > 0) {
        await redis.eval(DELETE_IF_EQUALS, dropped.length, ...dropped.map(keys.approved), valid.companyId);
      }
    },

    async getCompany(companyId) {
      return (await store.readCompany(companyId))?.record;
    },

    async readCompany(companyId) {
      return (await readCompanyState(companyId)).entry;
    },

    readCompanyState,

    async removeCompany(companyId) {
      checkId(companyId, 'companyId');
      let approved: string[] = [];
      try {
        approved = (await store.getCompany(companyId))?.approvedLocations ?? [];
      } catch {
        // Unreadable: its approvals cannot be listed; they are left to be overwritten.
      }
      const results = await redis
        .multi()
        .del(keys.company(companyId))
        .srem(keys.companies, companyId)
        .del(keys.companyReauth(companyId))
        .exec();
      if (approved.length > 0) {
        await redis.eval(DELETE_IF_EQUALS, approved.length, ...approved.map(keys.approved), companyId);
      }
      return results?.[0]?.[1] === 1;
    },

    async listCompanies() {
      const ids = (await redis.smembers(keys.companies)).sort();
      if (ids.length === 0) return [];
      const envelopes = await redis.mget(...ids.map((id) => keys.company(id)));
      const marks = await redis.mget(...ids.map((id) => keys.companyReauth(id)));
      return ids.flatMap((companyId, index): CompanySummary[] => {
        const envelope = envelopes[index] ?? null;
        if (envelope === null) return [];
        const mark = parseMark(marks[index] ?? null);
        const reauth =
          mark === undefined ? { needsReauth: false } : { needsReauth: true, reauthReason: mark.reason };
        try {
          const record = open(CompanyCredentials, envelope, keys.company(companyId));
          return [
            {
              companyId,
              expiresAt: record.expiresAt,
              approvedLocations: record.approvedLocations,
              ...reauth,
            },
          ];
        } catch {
          return [{ companyId, approvedLocations: [], unreadable: true, ...reauth }];
        }
      });
    },

    async approvingCompany(locationId) {
      checkId(locationId, 'locationId');
      return (await redis.get(keys.approved(locationId))) ?? undefined;
    },

    async markNeedsReauth(locationId, reason) {
      checkId(locationId, 'locationId');
      return (await redis.set(keys.locationReauth(locationId), newMark(reason), 'NX')) === 'OK';
    },

    async needsReauth(locationId) {
      checkId(locationId, 'locationId');
      return parseMark(await redis.get(keys.locationReauth(locationId)));
    },

    async clearNeedsReauth(locationId) {
      checkId(locationId, 'locationId');
      await redis.del(keys.locationReauth(locationId));
    },

    async markCompanyNeedsReauth(companyId, reason) {
      checkId(companyId, 'companyId');
      return (await redis.set(keys.companyReauth(companyId), newMark(reason), 'NX')) === 'OK';
    },

    async companyNeedsReauth(companyId) {
      checkId(companyId, 'companyId');
      return parseMark(await redis.get(keys.companyReauth(companyId)));
    },

    async clearCompanyNeedsReauth(companyId) {
      checkId(companyId, 'companyId');
      await redis.del(keys.companyReauth(companyId));
    },

    compareAndSwap: compareAndSwap,

    async rekey() {
      const failures: string[] = [];
      const count =
        (await rekeySet(keys.locations, keys.location, failures)) +
        (await rekeySet(keys.companies, keys.company, failures));
      if (failures.length > 0) {
        throw new CredentialsDecryptError(
          `rekey re-encrypted ${count} records but cannot decrypt ${failures.length} under CREDENTIALS_KEY: ${failures.join(', ')}`,
        );
      }
      return count;
    },
  };
  return store;
}
