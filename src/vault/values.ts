// Secret values: masking, keyed digests, generation. Nothing here logs or returns a value in text.
import * as core from '@actions/core';
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import type { GenerateCharset } from '../manifest/types.ts';

/**
 * Shortest value (or line of a value) masked: the runner replaces every occurrence of a mask in every
 * log line, so a one- or two-character mask (or whitespace) would blank those characters everywhere.
 */
export const MIN_MASKED_LENGTH = 3;

/**
 * Masks a value and each of its lines (the runner masks line by line; CRLF, CR and LF all break
 * lines), before anything could log it. Parts shorter than MIN_MASKED_LENGTH (after trimming) are
 * not masked; one notice says so, without the value.
 */
export function maskValue(value: string, setSecret: (v: string) => void = core.setSecret, notice: (text: string) => void = core.info): void {
  if (!value) return;
  let short = 0;
  const masked = new Set<string>();
  for (const part of [value, ...value.split(/\r\n|\r|\n/).map((l) => l.trim())]) {
    if (!part || masked.has(part)) continue;
    if (part.trim().length < MIN_MASKED_LENGTH) {
      short++;
      continue;
    }
    masked.add(part);
    setSecret(part);
  }
  if (short > 0) {
    notice(`a secret value${masked.size > 0 ? ' has a line that is' : ' is'} shorter than ${MIN_MASKED_LENGTH} characters (or blank): not masked, since that mask would hide those characters in every log line`);
  }
}

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
