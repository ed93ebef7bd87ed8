// Names and values a test makes up: short random ids for resources that share the sandbox.
import { randomBytes } from 'node:crypto';

/** `n` random bytes as hex: a suffix that keeps resources of concurrent tests apart. */
export function shortId(n = 3): string {
  return randomBytes(n).toString('hex');
}

/** A random test value with letters, digits and characters that URL- and base64-encode visibly. */
export function secretValue(tag: string): string {
  return `${tag}-${randomBytes(12).toString('base64url')}+/=%&?${randomBytes(6).toString('hex')}`;
}
