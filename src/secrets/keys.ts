// Usage Panda keys and the admin token: generated from crypto randomness, stored only as
// a SHA-256 hash (they are high-entropy, so a fast hash is the right one).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_PATTERN = /^up-[A-Za-z0-9]{48}$/;

/** `count` characters of [A-Za-z0-9], without modulo bias. */
export function randomAlphanumeric(count: number): string {
  let out = '';
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      // 248 = 62 * 4: bytes above it would favour the first letters.
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === count) break;
    }
  }
  return out;
}

export const generateApiKey = (): string => `up-${randomAlphanumeric(48)}`;

const EDGE_TOKEN_PATTERN = /^upe-[A-Za-z0-9]{48}$/;

/** An edge gateway's token: made like a key, with its own prefix so neither passes for the other. */
export const generateEdgeToken = (): string => `upe-${randomAlphanumeric(48)}`;

export const isEdgeToken = (value: string): boolean => EDGE_TOKEN_PATTERN.test(value);

export const isApiKey = (value: string): boolean => KEY_PATTERN.test(value);

export const hashSecret = (value: string): string => createHash('sha256').update(value).digest('hex');

/** What a list shows of a key: enough to recognise it, too little to use it. */
export const keyPrefix = (key: string): string => key.slice(0, 7);

export function secretMatchesHash(value: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(value), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
