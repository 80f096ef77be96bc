import { describe, expect, it } from '@jest/globals';
import { InvalidArgumentError } from 'commander';
import { formatDuration, formatTable, plural, truncate } from '../src/output.js';
import { parseTimeArgument } from '../src/time.js';

// Pure logic, in-process: the process-level tests (usage.test.ts, dead.test.ts) cover the exit
// codes and what reaches stdout/stderr; these cover every form without a process start each.

const NOW = Date.parse('2026-11-28T12:00:00.000Z');

describe('--since / --until time forms', () => {
  it('When an age is given, then it is that long before now, for each unit s m h d w', () => {
    expect(['90s', '30m', '2h', '3d', '1w'].map((age) => parseTimeArgument(age, NOW).toISOString())).toEqual([
      '2026-11-28T11:58:30.000Z',
      '2026-11-28T11:30:00.000Z',
      '2026-11-28T10:00:00.000Z',
      '2026-11-25T12:00:00.000Z',
      '2026-11-21T12:00:00.000Z',
    ]);
  });

  it('When an ISO 8601 time or date is given, then it is that instant (a date is midnight UTC)', () => {
    expect(parseTimeArgument('2026-11-28T10:00:00Z', NOW).toISOString()).toBe('2026-11-28T10:00:00.000Z');
    expect(parseTimeArgument('2026-11-28T10:00:00+02:00', NOW).toISOString()).toBe(
      '2026-11-28T08:00:00.000Z',
    );
    expect(parseTimeArgument('2026-11-28', NOW).toISOString()).toBe('2026-11-28T00:00:00.000Z');
  });

  it('When anything else is given, then it is refused as an invalid argument', () => {
    for (const value of ['yesterday', '1h30m', '2 h', '-3d', '2026-11-28T10:00:00', '3y', '']) {
      expect(() => parseTimeArgument(value, NOW)).toThrow(InvalidArgumentError);
    }
  });
});

describe('human output', () => {
  it('When a table is formatted, then columns are padded to their widest cell, two spaces apart, the last not padded', () => {
    expect(
      formatTable(
        ['ID', 'REASON', 'LAST'],
        [
          ['events-a', 'GHL_NOT_FOUND', 'x'],
          ['b', 'INVALID_JOB', 'a longer one'],
        ],
      ),
    ).toBe(
      'ID        REASON         LAST\nevents-a  GHL_NOT_FOUND  x\nb         INVALID_JOB    a longer one\n',
    );
  });

  it('When a duration is formatted, then it shows its two largest units', () => {
    expect([850, 42_000, 303_000, 7_500_000, 273_600_000, 3_600_000].map(formatDuration)).toEqual([
      '850ms',
      '42s',
      '5m 3s',
      '2h 5m',
      '3d 4h',
      '1h',
    ]);
  });

  it('When text is longer than its column, then it is cut to one line with an ellipsis', () => {
    expect(truncate('GHL  answered\n422', 60)).toBe('GHL answered 422');
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
    expect([plural(1, 'dead letter'), plural(3, 'dead letter')]).toEqual(['1 dead letter', '3 dead letters']);
  });
});
