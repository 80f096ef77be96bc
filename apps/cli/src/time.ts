import { InvalidArgumentError } from 'commander';
import { z } from 'zod';

/**
 * `--since` / `--until`: an ISO 8601 instant (`2026-11-28T10:00:00Z`, with `Z` or an offset), a
 * date (`2026-11-28`, midnight UTC), or an age: a whole number and a unit, `s` `m` `h` `d` `w`
 * (`90m`, `2h`, `3d`: that long before now). The age form is all the command needs of a duration
 * library such as `ms`, which is not a dependency.
 */
const AGE = /^(\d+)([smhdw])$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const IsoInstant = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

export function parseTimeArgument(value: string, now: number = Date.now()): Date {
  const age = AGE.exec(value);
  if (age) {
    const [, amount, unit] = age as unknown as [string, string, keyof typeof UNIT_MS];
    return new Date(now - Number(amount) * UNIT_MS[unit]);
  }
  if (IsoInstant.safeParse(value).success) return new Date(value);
  throw new InvalidArgumentError(
    'expected an ISO 8601 time (2026-11-28T10:00:00Z, 2026-11-28) or an age (30m, 2h, 3d)',
  );
}
