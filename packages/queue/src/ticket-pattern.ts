import { z } from 'zod';

/**
 * How a task is recognised as the one a ticket is about (docs/matching.md): a regular expression
 * (JavaScript syntax, matched case-insensitively against the task's title and body) in which
 * `{ticket}` stands for the ticket reference, escaped. The default finds the reference as a whole
 * word: not preceded or followed by a letter, digit or `_`, so `ZD-4711` matches "Call back (ZD-4711)"
 * but not "ZD-47110", and `#12` matches "fix #12" (where `\b#12\b` would not: `#` is no word character).
 */
export const DEFAULT_TICKET_PATTERN = '(?<![A-Za-z0-9_]){ticket}(?![A-Za-z0-9_])';

export const TicketPattern = z
  .string()
  .min(1)
  .max(512)
  .refine((pattern) => pattern.includes('{ticket}'), 'must contain {ticket}')
  .refine((pattern) => compiles(pattern.replaceAll('{ticket}', 'x')), 'must be a valid regular expression');

function compiles(source: string): boolean {
  try {
    new RegExp(source, 'iu');
    return true;
  } catch {
    return false;
  }
}

/** The pattern for one ticket reference, ready to test titles and bodies with. */
export function ticketMatcher(pattern: string, ticketRef: string): RegExp {
  // Syntax characters only: with the `u` flag, escaping anything else (e.g. `-`) is a SyntaxError.
  const escaped = ticketRef.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  // A function replacer: a string one would read `$&` in the reference as a replacement pattern.
  return new RegExp(
    pattern.replaceAll('{ticket}', () => escaped),
    'iu',
  );
}
