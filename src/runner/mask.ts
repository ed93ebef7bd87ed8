// Masking of secret values in the runner's log, before anything could print them.
import { info, setSecret as addMask, setSecrets as addMasks } from './commands.ts';

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
export function maskValue(value: string, setSecret: (v: string) => void = addMask, notice: (text: string) => void = info): void {
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
    notice(
      `a secret value${masked.size > 0 ? ' has a line that is' : ' is'} shorter than ${MIN_MASKED_LENGTH} characters (or blank): not masked, since that mask would hide those characters in every log line`,
    );
  }
}

/** maskValue for many values, their masks issued in one write (every env value of a manifest, before any step). */
export function maskValues(values: Iterable<string>, setSecrets: (parts: string[]) => void = addMasks, notice: (text: string) => void = info): void {
  const parts: string[] = [];
  for (const value of values) maskValue(value, (part) => parts.push(part), notice);
  setSecrets(parts);
}
