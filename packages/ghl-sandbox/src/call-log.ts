import type { RecordedCall } from './schemas.js';

/**
 * The last `capacity` calls, oldest first. A fixed-size ring buffer so that recording stays O(1) on
 * the hot path and memory stays bounded under a benchmark's millions of calls.
 */
export class CallLog {
  readonly #slots: (RecordedCall | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity = 10_000) {
    this.#slots = new Array<RecordedCall | undefined>(capacity);
  }

  push(call: RecordedCall): void {
    this.#slots[this.#next] = call;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size += 1;
  }

  /** Oldest first. `path` matches as a substring (so a task id finds its calls); `method` ignores case. */
  list(filter: { path?: string; method?: string } = {}): RecordedCall[] {
    const method = filter.method?.toUpperCase();
    const result: RecordedCall[] = [];
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i += 1) {
      const call = this.#slots[(start + i) % this.capacity];
      if (!call) continue;
      if (method !== undefined && call.method !== method) continue;
      if (filter.path !== undefined && !call.path.includes(filter.path)) continue;
      result.push(call);
    }
    return result;
  }

  clear(): void {
    this.#slots.fill(undefined);
    this.#next = 0;
    this.#size = 0;
  }
}
