import { describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { StaticTokenCredentials } from '../src/credentials.js';
import { MissingCredentialsError } from '../src/errors.js';

describe('StaticTokenCredentials', () => {
  it('When built with one token, then that token serves every location and calls without one', async () => {
    const credentials = new StaticTokenCredentials('pit-single');
    await expect(credentials.getToken(undefined)).resolves.toBe('pit-single');
    await expect(credentials.getToken('any-location')).resolves.toBe('pit-single');
  });

  it('When built with a map, then each location gets its own token', async () => {
    const credentials = new StaticTokenCredentials({ 'loc-a': 'pit-a', 'loc-b': 'pit-b' });
    await expect(credentials.getToken('loc-a')).resolves.toBe('pit-a');
    await expect(credentials.getToken('loc-b')).resolves.toBe('pit-b');
  });

  it('When the location is not in the map, then MissingCredentialsError names the location', async () => {
    const credentials = new StaticTokenCredentials({ 'loc-a': 'pit-a' });
    const error = await credentials.getToken('loc-z').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingCredentialsError);
    expect((error as MissingCredentialsError).locationId).toBe('loc-z');
    expect((error as Error).message).toContain('loc-z');
    expect((error as Error).message).not.toContain('pit-a');
  });

  it('When a map has one entry and the call names no location, then that entry is used', async () => {
    await expect(new StaticTokenCredentials({ 'loc-a': 'pit-a' }).getToken(undefined)).resolves.toBe('pit-a');
  });

  it('When a map has several entries and the call names no location, then it refuses to guess', async () => {
    const credentials = new StaticTokenCredentials({ 'loc-a': 'pit-a', 'loc-b': 'pit-b' });
    await expect(credentials.getToken(undefined)).rejects.toBeInstanceOf(MissingCredentialsError);
  });

  it('When a token is empty, then construction fails without echoing any token', () => {
    expect(() => new StaticTokenCredentials('')).toThrow(TypeError);
    expect(() => new StaticTokenCredentials({})).toThrow(TypeError);
    expect(() => new StaticTokenCredentials({ 'loc-a': 'pit-a', 'loc-b': ' ' })).toThrow(/loc-b/);
  });

  it('When inspected or serialised, then the tokens are not shown', () => {
    const credentials = new StaticTokenCredentials({ 'loc-a': 'pit-visible-secret' });
    expect(inspect(credentials, { depth: 10 })).not.toContain('pit-visible-secret');
    expect(JSON.stringify(credentials)).not.toContain('pit-visible-secret');
  });
});
