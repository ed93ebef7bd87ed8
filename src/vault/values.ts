// Secret values: keyed digests, generation. Nothing here logs or returns a value in text.
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import type { GenerateCharset } from '../manifest/types.ts';

/** Version tag of the digest scheme, so it can change without mistaking old digests for mismatches. */
export const DIGEST_SCHEME = 'hmac-sha256-v1';

/**
 * Keyed digest of a secret's value: HMAC-SHA256 under a key only value-readers can get (stored as a
 * secret in the vault), bound to the secret's name so equal values in two secrets do not show as equal.
 */
export function valueDigest(key: Buffer, secretName: string, value: string): string {
  return `${DIGEST_SCHEME}:${createHmac('sha256', key).update(secretName.toLowerCase()).update('\0').update(value, 'utf8').digest('base64url')}`;
}

export function newDigestKey(): string {
  return randomBytes(32).toString('base64url');
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE64URL = `${ALPHANUMERIC}-_`;
const HEX = '0123456789abcdef';
// Printable ASCII without space, quotes and backslash (safe in env files, YAML and shells).
const ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))
  .filter((c) => !`"'\`\\`.includes(c))
  .join('');

export function charsetAlphabet(charset: GenerateCharset): string {
  switch (charset) {
    case 'alphanumeric':
      return ALPHANUMERIC;
    case 'base64url':
      return BASE64URL;
    case 'hex':
      return HEX;
    case 'ascii':
      return ASCII;
  }
}

/** A cryptographically random string of `length` characters from the charset (uniform: randomInt). */
export function generateValue(length: number, charset: GenerateCharset): string {
  if (!Number.isInteger(length) || length < 1 || length > 25_000) throw new Error(`generated secret length must be 1..25000, got ${length}`);
  const alphabet = charsetAlphabet(charset);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}
