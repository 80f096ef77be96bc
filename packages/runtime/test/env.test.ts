import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  LogFormat,
  LogLevel,
  blankAsUnset,
  envInteger,
  envKeyValueList,
  envList,
  envPort,
  envString,
  envUrl,
  parseEnv,
} from '../src/index.js';

const problemsOf = (schema: z.ZodType, value: string | undefined): string[] => {
  const result = parseEnv(z.object({ VAR: schema }), { VAR: value });
  return result.ok ? [] : result.problems;
};
const valueOf = (schema: z.ZodType, value: string | undefined): unknown => {
  const result = parseEnv(z.object({ VAR: schema }), { VAR: value });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config.VAR;
};

describe('env helpers', () => {
  it('When a value is empty or only whitespace, then blankAsUnset treats it as unset', () => {
    expect([blankAsUnset(''), blankAsUnset(' \t\n'), blankAsUnset('x'), blankAsUnset(0)]).toEqual([
      undefined,
      undefined,
      'x',
      0,
    ]);
  });

  it('When an integer variable is unset or blank, then it takes its default', () => {
    const schema = envInteger({ default: 50, min: 1, max: 100 });
    expect([valueOf(schema, undefined), valueOf(schema, ''), valueOf(schema, '  ')]).toEqual([50, 50, 50]);
    expect(valueOf(envInteger({ min: 1, max: 100 }), undefined)).toBeUndefined();
  });

  it('When an integer variable is set, then it is read within its bounds and anything else is one problem', () => {
    const schema = envInteger({ default: 50, min: 0, max: 100 });
    expect([valueOf(schema, '0'), valueOf(schema, ' 100 '), valueOf(schema, '+7')]).toEqual([0, 100, 7]);
    for (const bad of ['-1', '101', '1.5', '1e2', '0x10', 'many']) {
      expect(problemsOf(schema, bad)).toEqual(['VAR: must be a whole number from 0 to 100']);
    }
  });

  it('When a port is 0, then it is accepted (the OS picks one), and 65536 is not', () => {
    expect(valueOf(envPort({ default: 3000 }), '0')).toBe(0);
    expect(valueOf(envPort({ default: 3000 }), undefined)).toBe(3000);
    expect(problemsOf(envPort({ default: 3000 }), '65536')).toHaveLength(1);
  });

  it('When a list is given with spaces, tabs and newlines, then each entry is read and blank means empty', () => {
    expect(valueOf(envList(), '  a b\tc\nd ')).toEqual(['a', 'b', 'c', 'd']);
    expect(valueOf(envList(), ' ')).toEqual([]);
  });

  it('When a key=value list is read, then each pair is kept and a value may contain "="', () => {
    expect(valueOf(envKeyValueList(), ' a=1\nb=x=y ')).toEqual({ a: '1', b: 'x=y' });
    expect(valueOf(envKeyValueList(), '')).toEqual({});
    expect(valueOf(envKeyValueList(), 'a=1 a=1')).toEqual({ a: '1' });
    expect(problemsOf(envKeyValueList({ form: 'locationId=token' }), 'x')).toEqual([
      'VAR: entry 1 must look like locationId=token',
    ]);
  });

  it('When key=value entries are wrong, then each is a problem naming its index and never its value', () => {
    const schema = envKeyValueList({ value: z.string().regex(/^[a-z-]+$/, 'must be lowercase') });
    const problems = problemsOf(schema, 'a=secret-one broken =secret-two b= c=SECRET-THREE a=secret-four');
    expect(problems).toEqual([
      'VAR: entry 2 must look like key=value',
      'VAR: entry 3 must look like key=value',
      'VAR: entry 4 must look like key=value',
      'VAR: entry 5 (c): value must be lowercase',
      'VAR: entry 6: a is given two different values',
    ]);
    expect(problems.join()).not.toMatch(/secret/i);
  });

  it('When a URL has another scheme or is not a URL, then that is a problem that does not repeat it', () => {
    const schema = envUrl({ protocols: ['http', 'https'], default: 'https://example.com' });
    expect(valueOf(schema, '')).toBe('https://example.com');
    expect(valueOf(schema, 'http://127.0.0.1:4010')).toBe('http://127.0.0.1:4010');
    expect(problemsOf(schema, 'ftp://user:pw@example.com')).toEqual([
      'VAR: must be a http:// or https:// URL',
    ]);
    expect(problemsOf(schema, 'not a url')).toHaveLength(1);
  });

  it('When a string variable is blank, then it is unset or its default', () => {
    expect(valueOf(envString(), ' ')).toBeUndefined();
    expect(valueOf(envString({ default: '0.0.0.0' }), '')).toBe('0.0.0.0');
  });

  it('When LOG_LEVEL and LOG_FORMAT are given in any case, then they are read, and blank means info and json', () => {
    expect([
      valueOf(LogLevel, 'DEBUG'),
      valueOf(LogLevel, ''),
      valueOf(LogFormat, 'Pretty'),
      valueOf(LogFormat, ' '),
    ]).toEqual(['debug', 'info', 'pretty', 'json']);
    expect(problemsOf(LogLevel, 'loud')).toEqual([expect.stringMatching(/^VAR: /)]);
    expect(problemsOf(LogFormat, 'xml')).toEqual([expect.stringMatching(/^VAR: /)]);
  });
});
