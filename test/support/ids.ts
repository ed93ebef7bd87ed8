// Names and values a test makes up: short random ids for resources that share the sandbox.
import { randomBytes } from 'node:crypto';

/** `n` random bytes as hex: a suffix that keeps resources of concurrent tests apart. */
export function shortId(n = 3): string {
  return randomBytes(n).toString('hex');
}
