import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import {
  CredentialsDecryptError,
  CredentialsKey,
  CredentialsKeyEnv,
  CredentialsKeyError,
} from '../src/index.js';

const AAD = 'p:credentials:location:loc1';

function tamper(envelope: string, part: number): string {
  const parts = envelope.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('CredentialsKey', () => {
  it('When a value is encrypted, then it decrypts to the same text and the envelope does not contain it', () => {
    const key = CredentialsKey.parse(CredentialsKey.generate());
    const envelope = key.encrypt('{"token":"pit-secret-value"}', AAD);
    expect(envelope).not.toContain('pit-secret-value');
    expect(envelope.startsWith(`v1.${key.primaryKeyId}.`)).toBe(true);
    expect(key.decrypt(envelope, AAD)).toBe('{"token":"pit-secret-value"}');
    // A fresh IV each time: the same plaintext never gives the same envelope.
    expect(key.encrypt('{"token":"pit-secret-value"}', AAD)).not.toBe(envelope);
  });

  it('When the ciphertext, the tag or the IV is altered, then decrypting fails', () => {
    const key = CredentialsKey.parse(CredentialsKey.generate());
    const envelope = key.encrypt('secret text', AAD);
    for (const part of [2, 3, 4]) {
      expect(() => key.decrypt(tamper(envelope, part), AAD)).toThrow(CredentialsDecryptError);
    }
    expect(() => key.decrypt('not an envelope', AAD)).toThrow(CredentialsDecryptError);
  });

  it('When a ciphertext is read at another Redis key (the AAD), then decrypting fails', () => {
    const key = CredentialsKey.parse(CredentialsKey.generate());
    const envelope = key.encrypt('secret text', AAD);
    expect(() => key.decrypt(envelope, 'p:credentials:location:loc2')).toThrow(
      /failed authentication.*copied from another key/,
    );
  });

  it('When the envelope names a key that is not configured, then decrypting fails naming only key ids', () => {
    const oldKey = CredentialsKey.parse(CredentialsKey.generate());
    const otherText = CredentialsKey.generate();
    const other = CredentialsKey.parse(otherText);
    const envelope = oldKey.encrypt('secret text', AAD);
    let caught: unknown;
    try {
      other.decrypt(envelope, AAD);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CredentialsDecryptError);
    const message = (caught as Error).message;
    expect(message).toContain(oldKey.primaryKeyId);
    expect(message).not.toContain(otherText);
  });

  it('When a key id is forged onto a ciphertext of another key, then authentication fails', () => {
    const first = CredentialsKey.generate();
    const second = CredentialsKey.generate();
    const both = CredentialsKey.parse(`${first} ${second}`);
    const onlySecond = CredentialsKey.parse(second);
    const envelope = both.encrypt('secret text', AAD);
    const forged = envelope.replace(`.${both.primaryKeyId}.`, `.${onlySecond.primaryKeyId}.`);
    expect(() => both.decrypt(forged, AAD)).toThrow(CredentialsDecryptError);
  });

  it('When several keys are given, then the first encrypts and every one decrypts', () => {
    const oldText = CredentialsKey.generate();
    const newText = CredentialsKey.generate();
    const old = CredentialsKey.parse(oldText);
    const rotated = CredentialsKey.parse(`${newText}   ${oldText}\n`);
    const fromOld = old.encrypt('secret text', AAD);
    expect(rotated.decrypt(fromOld, AAD)).toBe('secret text');
    const fromRotated = rotated.encrypt('secret text', AAD);
    expect(CredentialsKey.keyIdOfEnvelope(fromRotated)).toBe(rotated.primaryKeyId);
    expect(rotated.primaryKeyId).not.toBe(old.primaryKeyId);
    expect(rotated.keyIds).toEqual([rotated.primaryKeyId, old.primaryKeyId]);
    expect(() => old.decrypt(fromRotated, AAD)).toThrow(CredentialsDecryptError);
  });

  it('When CREDENTIALS_KEY is malformed, then every problem is named by position and no value is echoed', () => {
    const good = CredentialsKey.generate();
    const short = Buffer.alloc(16, 7).toString('base64');
    const notBase64 = 'this-is-not-base64!!';
    let caught: unknown;
    try {
      CredentialsKey.parse(`${good} ${short} ${notBase64} ${good}`);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CredentialsKeyError);
    const message = (caught as Error).message;
    expect(message).toContain('entry 2 must be base64 of exactly 32 bytes');
    expect(message).toContain('entry 3 must be base64 of exactly 32 bytes');
    expect(message).toContain('entry 4 repeats an earlier key');
    for (const value of [good, short, notBase64]) expect(message).not.toContain(value);
    expect(() => CredentialsKey.parse('')).toThrow(/CREDENTIALS_KEY is not set/);
    expect(() => CredentialsKey.parse(undefined)).toThrow(CredentialsKeyError);
  });

  it('When a key is logged or serialised, then its material does not appear', () => {
    const text = CredentialsKey.generate();
    const key = CredentialsKey.parse(text);
    const raw = Buffer.from(text, 'base64').toString('hex');
    for (const shown of [
      JSON.stringify(key),
      inspect(key, { depth: 5, showHidden: true }),
      `${JSON.stringify({ key })}`,
    ]) {
      expect(shown).not.toContain(text);
      expect(shown).not.toContain(raw);
    }
    expect(JSON.parse(JSON.stringify(key))).toEqual({ keyIds: [key.primaryKeyId] });
  });

  it('When CREDENTIALS_KEY goes through the env schema, then a bad one is an issue without the value', () => {
    const good = CredentialsKey.generate();
    const parsed = CredentialsKeyEnv.safeParse(good);
    expect(parsed.success && parsed.data.keyIds.length).toBe(1);
    const bad = CredentialsKeyEnv.safeParse('c2hvcnQ=');
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).not.toContain('c2hvcnQ=');
  });
});
