import type { CliIo } from './context.js';

/**
 * Everything the command prints goes through here: results to stdout (a table and a count line for
 * people, one JSON document with --json for scripts), messages and errors to stderr.
 */
export interface Output {
  /** --json: one JSON document on stdout, no human lines. */
  readonly isJson: boolean;
  /** One line of human output on stdout (nothing under --json). */
  line(text?: string): void;
  /** The one JSON document of a --json run, on stdout. */
  printJson(value: unknown): void;
  /** A message for the person at the terminal, on stderr (kept out of stdout so pipes stay clean). */
  note(text: string): void;
  table(headers: readonly string[], rows: readonly (readonly string[])[]): void;
}

export function createOutput(io: CliIo, json: boolean): Output {
  return {
    isJson: json,
    line: (text = '') => {
      if (!json) io.stdout.write(`${text}\n`);
    },
    printJson: (value) => {
      io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    note: (text) => {
      io.stderr.write(`${text}\n`);
    },
    table: (headers, rows) => {
      if (!json) io.stdout.write(formatTable(headers, rows));
    },
  };
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** One line, at most `max` characters, an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** `3d 4h`, `2h 5m`, `5m 3s`, `42s`, `850ms`: the two largest units, for people. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [name, size] of units) {
    const amount = Math.floor(rest / size);
    if (amount > 0 || parts.length > 0) parts.push(`${amount}${name}`);
    rest -= amount * size;
    if (parts.length === 2) break;
  }
  return parts.filter((part, index) => index === 0 || !part.startsWith('0')).join(' ');
}

/** "1 dead letter", "3 dead letters". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
