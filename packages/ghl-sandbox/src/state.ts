import { CallLog } from './call-log.js';
import { FaultStore } from './faults.js';
import { OAuthStore, type TokenSubject } from './oauth.js';
import { DAY_MS, RateLimiter } from './rate-limiter.js';
import type { SandboxContact, SandboxOptions, SandboxSeed, SandboxTask } from './schemas.js';

/** Thrown by `seed` when the seed refers to something that does not exist. */
export class SeedError extends Error {
  override name = 'SeedError';
}

export const DEFAULT_OPTIONS: Required<SandboxOptions> = {
  burstLimit: 100,
  burstIntervalMs: 10_000,
  dailyLimit: 200_000,
  supportedVersions: ['2021-07-28'],
  rateWindow: 'fixed',
  dayMs: DAY_MS,
  // GHL's `expires_in` is 86399 s (apps/oauth.json, docs/ghl-api.md §3).
  accessTokenTtlMs: 86_399_000,
};

/**
 * Everything the sandbox knows: locations and their tokens, contacts, tasks, the call log, injected
 * faults and rate counters. Every lookup on the request path is a Map get (no scans), so the sandbox
 * stays cheap enough to benchmark a worker against.
 */
export class SandboxState {
  readonly options: Required<SandboxOptions>;
  readonly calls = new CallLog(10_000);
  readonly faults = new FaultStore();
  readonly rateLimiter: RateLimiter;
  readonly oauth: OAuthStore;
  readonly supportedVersions: ReadonlySet<string>;

  readonly #locationTokens = new Map<string, string[]>();
  readonly #tokenLocation = new Map<string, string>();
  readonly #contacts = new Map<string, SandboxContact>();
  /** `${locationId}\n${lower-case email}` → contact id, for the duplicate search. */
  readonly #contactByEmail = new Map<string, string>();
  readonly #tasks = new Map<string, SandboxTask>();
  readonly #tasksByContact = new Map<string, Set<string>>();
  /** Location id → task ids, so the location-wide task search never scans other locations' tasks. */
  readonly #tasksByLocation = new Map<string, Set<string>>();
  /** When each task was first seeded (its `dateAdded`), and a sequence number that breaks ties. */
  readonly #taskAdded = new Map<string, { seq: number; dateAdded: string }>();
  #taskSeq = 0;
  readonly #delays = new Set<NodeJS.Timeout>();
  /** Deferred state changes (fault `applyDelayMs`); cancelled by `reset` and `cancelDelays`. */
  readonly #pendingApplies = new Set<NodeJS.Timeout>();

  constructor(options: SandboxOptions = {}) {
    this.options = {
      burstLimit: options.burstLimit ?? DEFAULT_OPTIONS.burstLimit,
      burstIntervalMs: options.burstIntervalMs ?? DEFAULT_OPTIONS.burstIntervalMs,
      dailyLimit: options.dailyLimit ?? DEFAULT_OPTIONS.dailyLimit,
      supportedVersions: options.supportedVersions ?? DEFAULT_OPTIONS.supportedVersions,
      rateWindow: options.rateWindow ?? DEFAULT_OPTIONS.rateWindow,
      dayMs: options.dayMs ?? DEFAULT_OPTIONS.dayMs,
      accessTokenTtlMs: options.accessTokenTtlMs ?? DEFAULT_OPTIONS.accessTokenTtlMs,
    };
    this.rateLimiter = new RateLimiter({
      burstLimit: this.options.burstLimit,
      burstIntervalMs: this.options.burstIntervalMs,
      dailyLimit: this.options.dailyLimit,
      window: this.options.rateWindow,
      dayMs: this.options.dayMs,
    });
    this.oauth = new OAuthStore(this.options.accessTokenTtlMs);
    this.supportedVersions = new Set(this.options.supportedVersions);
  }

  /** Adds (or replaces, by id) locations, contacts and tasks. Validates references before changing anything. */
  seed(seed: SandboxSeed): void {
    const seededContacts = new Map((seed.contacts ?? []).map((contact) => [contact.id, contact]));
    for (const task of seed.tasks ?? []) {
      if (!seededContacts.has(task.contactId) && !this.#contacts.has(task.contactId)) {
        throw new SeedError(`task ${task.id} refers to unknown contact ${task.contactId}`);
      }
    }

    for (const location of seed.locations ?? []) {
      for (const token of this.#locationTokens.get(location.id) ?? []) {
        if (this.#tokenLocation.get(token) === location.id) this.#tokenLocation.delete(token);
      }
      this.#locationTokens.set(location.id, [...location.tokens]);
      for (const token of location.tokens) this.#tokenLocation.set(token, location.id);
      this.rateLimiter.setLimits(location.id, location.rateLimit);
    }
    if (seed.oauth) this.oauth.seed(seed.oauth);

    for (const contact of seed.contacts ?? []) {
      const previous = this.#contacts.get(contact.id);
      if (previous?.email !== undefined) {
        const key = emailKey(previous.locationId, previous.email);
        if (this.#contactByEmail.get(key) === previous.id) this.#contactByEmail.delete(key);
      }
      this.#contacts.set(contact.id, { ...contact });
      if (contact.email !== undefined) {
        this.#contactByEmail.set(emailKey(contact.locationId, contact.email), contact.id);
      }
      // A contact that moved to another location takes its tasks along.
      for (const taskId of this.#tasksByContact.get(contact.id) ?? []) {
        const task = this.#tasks.get(taskId);
        if (task && task.locationId !== contact.locationId) {
          this.#tasksByLocation.get(task.locationId)?.delete(taskId);
          task.locationId = contact.locationId;
          addToIndex(this.#tasksByLocation, contact.locationId, taskId);
        }
      }
    }

    for (const task of seed.tasks ?? []) {
      const contact = this.#contacts.get(task.contactId);
      if (!contact) throw new SeedError(`task ${task.id} refers to unknown contact ${task.contactId}`);
      const previous = this.#tasks.get(task.id);
      if (previous) {
        this.#tasksByContact.get(previous.contactId)?.delete(task.id);
        this.#tasksByLocation.get(previous.locationId)?.delete(task.id);
      }
      if (!this.#taskAdded.has(task.id)) {
        this.#taskSeq += 1;
        this.#taskAdded.set(task.id, { seq: this.#taskSeq, dateAdded: new Date().toISOString() });
      }
      this.#tasks.set(task.id, {
        id: task.id,
        contactId: task.contactId,
        locationId: contact.locationId,
        title: task.title ?? '',
        ...(task.body !== undefined && { body: task.body }),
        ...(task.assignedTo !== undefined && { assignedTo: task.assignedTo }),
        ...(task.dueDate !== undefined && { dueDate: task.dueDate }),
        completed: task.completed ?? false,
      });
      addToIndex(this.#tasksByContact, task.contactId, task.id);
      addToIndex(this.#tasksByLocation, contact.locationId, task.id);
    }
  }

  /** The location of a seeded PIT or of a live OAuth location token. */
  locationOfToken(token: string): string | undefined {
    const subject = this.subjectOfToken(token);
    return subject?.kind === 'location' ? subject.locationId : undefined;
  }

  /** Who a bearer token acts for: a seeded PIT's location, or a live OAuth token's location or company. */
  subjectOfToken(token: string): TokenSubject | undefined {
    const locationId = this.#tokenLocation.get(token);
    if (locationId !== undefined) return { kind: 'location', locationId };
    return this.oauth.subjectOf(token);
  }

  hasLocation(locationId: string): boolean {
    return this.#locationTokens.has(locationId);
  }

  contact(contactId: string): SandboxContact | undefined {
    return this.#contacts.get(contactId);
  }

  /** Case-insensitive, like GHL's duplicate search on email. */
  contactByEmail(locationId: string, email: string): SandboxContact | undefined {
    const id = this.#contactByEmail.get(emailKey(locationId, email));
    return id === undefined ? undefined : this.#contacts.get(id);
  }

  task(taskId: string): SandboxTask | undefined {
    return this.#tasks.get(taskId);
  }

  tasksOfContact(contactId: string): SandboxTask[] {
    const result: SandboxTask[] = [];
    for (const id of this.#tasksByContact.get(contactId) ?? []) {
      const task = this.#tasks.get(id);
      if (task) result.push(task);
    }
    return result;
  }

  /** Every task of a location, in no particular order (the search sorts what it returns). */
  tasksOfLocation(locationId: string): SandboxTask[] {
    const result: SandboxTask[] = [];
    for (const id of this.#tasksByLocation.get(locationId) ?? []) {
      const task = this.#tasks.get(id);
      if (task) result.push(task);
    }
    return result;
  }

  /** When the task was first seeded, as GHL's `dateAdded`, and its insertion rank. */
  taskAdded(taskId: string): { seq: number; dateAdded: string } | undefined {
    return this.#taskAdded.get(taskId);
  }

  setTaskCompleted(taskId: string, completed: boolean): SandboxTask | undefined {
    const task = this.#tasks.get(taskId);
    if (!task) return undefined;
    task.completed = completed;
    task.updatedAt = new Date().toISOString();
    return task;
  }

  /** Runs `fn` after `ms` unless `cancelDelays` comes first (so closing never waits on a latency fault). */
  delay(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#delays.delete(timer);
      fn();
    }, ms);
    this.#delays.add(timer);
  }

  /**
   * Runs a deferred state change (fault `applyDelayMs`) after `ms`. Kept apart from `delay` so that
   * `reset` can drop pending changes (a late apply must not land on the next test's data) without
   * cutting off answers still being delayed.
   */
  scheduleApply(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#pendingApplies.delete(timer);
      fn();
    }, ms);
    this.#pendingApplies.add(timer);
  }

  /** Deferred state changes not yet applied. */
  get pendingApplies(): number {
    return this.#pendingApplies.size;
  }

  cancelPendingApplies(): void {
    for (const timer of this.#pendingApplies) clearTimeout(timer);
    this.#pendingApplies.clear();
  }

  /** Latency faults and deferred applies alike: what `close()` calls so that nothing keeps the process alive. */
  cancelDelays(): void {
    for (const timer of this.#delays) clearTimeout(timer);
    this.#delays.clear();
    this.cancelPendingApplies();
  }

  /** Data, OAuth apps and grants, calls, faults, rate counters and limits: a fresh sandbox with the same options. */
  reset(): void {
    this.#locationTokens.clear();
    this.#tokenLocation.clear();
    this.#contacts.clear();
    this.#contactByEmail.clear();
    this.#tasks.clear();
    this.#tasksByContact.clear();
    this.#tasksByLocation.clear();
    this.#taskAdded.clear();
    this.cancelPendingApplies();
    this.calls.clear();
    this.faults.clear();
    this.rateLimiter.clear();
    this.oauth.clear();
  }
}

function addToIndex(index: Map<string, Set<string>>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) {
    ids = new Set();
    index.set(key, ids);
  }
  ids.add(id);
}

function emailKey(locationId: string, email: string): string {
  return `${locationId}\n${email.toLowerCase()}`;
}
