import type { FaultSpec, OAuthRevoke, RecordedCall, SandboxSeed, SandboxTask } from './schemas.js';

/** The control API answered something other than what the call expects. */
export class SandboxControlError extends Error {
  override name = 'SandboxControlError';
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

/** Typed client of the sandbox's /__sandbox API (global fetch, no dependencies). */
export class SandboxControl {
  readonly #baseUrl: string;

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Additive; an entry with an existing id replaces it. */
  async seed(seed: SandboxSeed): Promise<void> {
    await this.#request('POST', '/seed', seed, [204]);
  }

  /** The task as the sandbox holds it, or undefined when there is none. */
  async getTask(taskId: string): Promise<SandboxTask | undefined> {
    const response = await this.#request(
      'GET',
      `/tasks/${encodeURIComponent(taskId)}`,
      undefined,
      [200, 404],
    );
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    return (await response.json()) as SandboxTask;
  }

  /** Recorded GHL calls, oldest first; `path` matches as a substring, `method` ignoring case. */
  async calls(filter: { path?: string; method?: string } = {}): Promise<RecordedCall[]> {
    const query = new URLSearchParams();
    if (filter.path !== undefined) query.set('path', filter.path);
    if (filter.method !== undefined) query.set('method', filter.method);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const response = await this.#request('GET', `/calls${suffix}`, undefined, [200]);
    return ((await response.json()) as { calls: RecordedCall[] }).calls;
  }

  async clearCalls(): Promise<void> {
    await this.#request('DELETE', '/calls', undefined, [204]);
  }

  async injectFault(fault: FaultSpec): Promise<{ id: string }> {
    const response = await this.#request('POST', '/faults', fault, [201]);
    return (await response.json()) as { id: string };
  }

  async clearFaults(): Promise<void> {
    await this.#request('DELETE', '/faults', undefined, [204]);
  }

  /**
   * Uninstalls an app (`clientId`, default every app) from a location or a company: the grant's
   * refresh token then answers invalid_grant and its access tokens 401. A location is also dropped
   * from Company installs' approved locations. Returns how many grants changed.
   */
  async revokeOAuth(revoke: OAuthRevoke): Promise<{ revoked: number }> {
    const response = await this.#request('POST', '/oauth/revoke', revoke, [200]);
    return (await response.json()) as { revoked: number };
  }

  /** Data, OAuth apps and grants, calls, faults, rate counters and per-location limits. */
  async reset(): Promise<void> {
    await this.#request('POST', '/reset', undefined, [204]);
  }

  async #request(method: string, path: string, body: unknown, expected: number[]): Promise<Response> {
    const response = await fetch(`${this.#baseUrl}/__sandbox${path}`, {
      method,
      ...(body !== undefined && {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    });
    if (!expected.includes(response.status)) {
      const text = await response.text();
      throw new SandboxControlError(
        `sandbox control ${method} ${path} answered ${response.status}: ${text}`,
        response.status,
        text,
      );
    }
    return response;
  }
}
