import { randomUUID } from 'node:crypto';
import type { FaultSpec } from './schemas.js';

interface ActiveFault {
  id: string;
  spec: FaultSpec;
  /** Matching calls seen so far (for `ratio`). */
  matched: number;
  /** Calls the fault was applied to. */
  applied: number;
  /** Applications left; undefined = until cleared. */
  remaining: number | undefined;
}

/**
 * Injected faults, first match wins. `ratio` is applied deterministically (the k-th matching call is
 * faulted when floor(k·ratio) grows), so "ratio 0.3 over 200 calls" gives exactly 60 faults and tests
 * need no tolerance for randomness.
 */
export class FaultStore {
  #faults: ActiveFault[] = [];

  add(spec: FaultSpec): { id: string } {
    const id = randomUUID();
    const remaining = spec.count ?? (spec.ratio === undefined ? 1 : undefined);
    this.#faults.push({ id, spec, matched: 0, applied: 0, remaining });
    return { id };
  }

  clear(): void {
    this.#faults = [];
  }

  get size(): number {
    return this.#faults.length;
  }

  /** The fault to apply to a call on `path`, if any; spends one application of it. */
  take(path: string): FaultSpec | undefined {
    if (this.#faults.length === 0) return undefined;
    for (let i = 0; i < this.#faults.length; i += 1) {
      const fault = this.#faults[i];
      if (!fault) continue;
      if (fault.spec.taskId !== undefined && !path.includes(fault.spec.taskId)) continue;
      fault.matched += 1;
      if (
        fault.spec.ratio !== undefined &&
        Math.floor(fault.matched * fault.spec.ratio + 1e-9) <= fault.applied
      ) {
        continue;
      }
      fault.applied += 1;
      if (fault.remaining !== undefined) {
        fault.remaining -= 1;
        if (fault.remaining <= 0) this.#faults.splice(i, 1);
      }
      return fault.spec;
    }
    return undefined;
  }
}
