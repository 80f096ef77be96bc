import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * AES-256-GCM with Node's own crypto (no library: the primitive is built in, and what is left — a key
 * list, an envelope and its parsing — is a few lines). GCM needs a unique 96-bit IV per encryption
 * under one key (NIST SP 800-38D §8.2); random IVs keep the collision chance negligible for the few
 * writes a credential store sees (one per refresh, about one a day per location).
 * https://nodejs.org/api/crypto.html#cryptocreatecipherivalgorithm-key-iv-options
 */
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Envelope: `v1.<keyId>.<iv>.<tag>.<ciphertext>`, the last three base64url. */
const ENVELOPE_VERSION = 'v1';

/** Thrown for a malformed CREDENTIALS_KEY. The message names the entry by position, never its value. */
export class CredentialsKeyError extends Error {}
Object.defineProperty(CredentialsKeyError.prototype, 'name', { value: 'CredentialsKeyError' });

/**
 * A stored value that cannot be decrypted: tampered with, written under a key no longer in
 * CREDENTIALS_KEY, or copied from another Redis key (the Redis key is the AAD). Names the key id and
 * the Redis key, never key material or plaintext.
 */
export class CredentialsDecryptError extends Error {}
Object.defineProperty(CredentialsDecryptError.prototype, 'name', { value: 'CredentialsDecryptError' });

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** First 8 hex digits of SHA-256 of the key: enough to pick among a handful of keys, reveals nothing usable. */
function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * CREDENTIALS_KEY: one or more whitespace-separated base64 keys of exactly 32 bytes
 * (`openssl rand -base64 32`). The first encrypts; any of them decrypts, so a key is rotated by
 * putting the new one first, running `rekey`, then dropping the old one (packages/credentials/README.md).
 * The key bytes live in a private field: `JSON.stringify`, `util.inspect` and error messages never show them.
 */
export class CredentialsKey {
  readonly #keys: ReadonlyMap<string, Buffer>;
  /** The id of the key that encrypts. */
  readonly primaryKeyId: string;

  private constructor(keys: Buffer[]) {
    const map = new Map<string, Buffer>();
    for (const key of keys) map.set(keyIdOf(key), key);
    this.#keys = map;
    this.primaryKeyId = keyIdOf(keys[0]!);
  }

  /** Parses CREDENTIALS_KEY; throws CredentialsKeyError with every problem, naming entries by position. */
  static parse(value: string | undefined): CredentialsKey {
    const entries = (value ?? '').trim().split(/\s+/).filter(Boolean);
    if (entries.length === 0) {
      throw new CredentialsKeyError(
        'CREDENTIALS_KEY is not set: give one or more base64 keys of 32 bytes (openssl rand -base64 32)',
      );
    }
    const problems: string[] = [];
    const keys: Buffer[] = [];
    const seen = new Set<string>();
    entries.forEach((entry, index) => {
      const where = `CREDENTIALS_KEY entry ${index + 1}`;
      // Buffer.from(…, 'base64') silently skips characters outside the alphabet, so check first.
      const key = BASE64.test(entry) ? Buffer.from(entry, 'base64') : undefined;
      if (key === undefined || key.length !== KEY_BYTES) {
        problems.push(`${where} must be base64 of exactly ${KEY_BYTES} bytes`);
        return;
      }
      const id = keyIdOf(key);
      if (seen.has(id)) {
        problems.push(`${where} repeats an earlier key`);
        return;
      }
      seen.add(id);
      keys.push(key);
    });
    if (problems.length > 0) throw new CredentialsKeyError(problems.join('; '));
    return new CredentialsKey(keys);
  }

  /** A fresh key in CREDENTIALS_KEY's format. */
  static generate(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  /** The ids of every configured key, the encrypting one first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypts `plaintext` under the first key, bound to `aad` (the Redis key it is stored at). */
  encrypt(plaintext: string, aad: string): string {
    const key = this.#keys.get(this.primaryKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      ENVELOPE_VERSION,
      this.primaryKeyId,
      iv.toString('base64url'),
      tag.toString('base64url'),
      ciphertext.toString('base64url'),
    ].join('.');
  }

  /** Decrypts an envelope from `encrypt`; throws CredentialsDecryptError when it is not authentic for `aad`. */
  decrypt(envelope: string, aad: string): string {
    const parts = envelope.split('.');
    const [version, keyId, ivText, tagText, ciphertextText] = parts;
    if (
      parts.length !== 5 ||
      version !== ENVELOPE_VERSION ||
      keyId === undefined ||
      ivText === undefined ||
      tagText === undefined ||
      ciphertextText === undefined
    ) {
      throw new CredentialsDecryptError(`The value at ${aad} is not a credentials envelope`);
    }
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      throw new CredentialsDecryptError(
        `The value at ${aad} was encrypted with key ${keyId}, which is not in CREDENTIALS_KEY (${this.keyIds.join(', ')})`,
      );
    }
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new CredentialsDecryptError(`The value at ${aad} is not a credentials envelope`);
    }
    try {
      const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertextText, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      // Node's own message ("Unsupported state or unable to authenticate data") adds nothing and is dropped.
      throw new CredentialsDecryptError(
        `The value at ${aad} failed authentication under key ${keyId}: it was altered or copied from another key`,
      );
    }
  }

  /** The key id an envelope names, or undefined when it is not one. */
  static keyIdOfEnvelope(envelope: string): string | undefined {
    const parts = envelope.split('.');
    return parts.length === 5 && parts[0] === ENVELOPE_VERSION ? parts[1] : undefined;
  }

  toJSON(): Record<string, unknown> {
    return { keyIds: this.keyIds };
  }
}

/** CREDENTIALS_KEY for a process's zod env schema: `z.object({ CREDENTIALS_KEY: CredentialsKeyEnv, … })`. */
export const CredentialsKeyEnv: z.ZodType<CredentialsKey, unknown> = z
  .unknown()
  .transform((value, context) => {
    try {
      return CredentialsKey.parse(typeof value === 'string' ? value : undefined);
    } catch (error) {
      context.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'is invalid' });
      return z.NEVER;
    }
  });
