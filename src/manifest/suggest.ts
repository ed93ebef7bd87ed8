// "Did you mean" suggestions by edit distance (optimal string alignment, case-insensitive), bounded:
// a suggestion is at most MAX_SUGGESTION_DISTANCE edits away, so candidates whose length differs by
// more are skipped unseen, the distance stops as soon as a row exceeds the limit, words longer than
// MAX_SUGGESTED_LENGTH get none, and at most MAX_CANDIDATES names are compared.

import { SHOWABLE } from '../util/escape.ts';

export const MAX_SUGGESTION_DISTANCE = 3;
export const MAX_SUGGESTED_LENGTH = 64;
export const MAX_CANDIDATES = 2_000;

/**
 * Edit distance of `a` and `b` (case-insensitive) when it is at most `max`, else `max + 1`.
 * @public the banded algorithm's own test seam (test/unit/manifest/rules.test.ts)
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  return boundedDistance(a.toLowerCase(), b.toLowerCase(), max === Infinity ? Math.max(a.length, b.length) : max);
}

let scratch = new Int32Array(3 * 130);

/**
 * Optimal string alignment distance of two lowercased strings, computed only inside the band of
 * width 2*max+1 around the diagonal and abandoned once a whole row of the band is over `max`.
 */
function boundedDistance(s: string, t: string, max: number): number {
  const over = max + 1;
  if (Math.abs(s.length - t.length) > max) return over;
  const n = t.length;
  if (scratch.length < 3 * (n + 2)) scratch = new Int32Array(3 * (n + 2));
  // Three rows in one reused buffer; only the band and its two edge cells are ever read.
  let prev2 = scratch.subarray(0, n + 2);
  let prev = scratch.subarray(n + 2, 2 * (n + 2));
  let cur = scratch.subarray(2 * (n + 2), 3 * (n + 2));
  prev2.fill(over, 0, Math.min(n + 2, max + 3));
  for (let j = 0; j <= Math.min(n, max); j++) prev[j] = j;
  if (max + 1 <= n) prev[max + 1] = over;
  for (let i = 1; i <= s.length; i++) {
    const lo = Math.max(1, i - max);
    const hi = Math.min(n, i + max);
    cur[lo - 1] = lo - 1 === 0 ? i : over; // left edge of the band
    let rowMin = cur[lo - 1]!;
    for (let j = lo; j <= hi; j++) {
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v > over ? over : v;
      if (v < rowMin) rowMin = v;
    }
    if (hi + 1 <= n) cur[hi + 1] = over; // right edge: the next row reads it as `prev[j]`
    if (rowMin > max) return over;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[n]!, over);
}

/** The closest candidate within a distance of a third of the word's length (at least 1, at most 3). */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length === 0 || word.length > MAX_SUGGESTED_LENGTH) return undefined;
  let limit = Math.min(MAX_SUGGESTION_DISTANCE, Math.max(1, Math.floor(word.length / 3)));
  const w = word.toLowerCase();
  let best: string | undefined;
  let seen = 0;
  for (const c of candidates) {
    if (++seen > MAX_CANDIDATES) break;
    if (Math.abs(c.length - word.length) > limit) continue;
    const dist = boundedDistance(w, c.toLowerCase(), limit);
    if (dist <= limit) {
      best = c;
      if (dist === 0) break;
      limit = dist - 1; // only a strictly closer candidate can replace it
    }
  }
  return best;
}

/** Suggestions computed for one manifest: past the errors anyone reads, the search stops. */
export const MAX_SUGGESTION_LOOKUPS = 200;

/** didYouMean/suggestion with a budget of lookups, one per manifest load. */
export class Suggester {
  #left: number;
  constructor(lookups = MAX_SUGGESTION_LOOKUPS) {
    this.#left = lookups;
  }

  didYouMean(word: string, candidates: Iterable<string>): string | undefined {
    if (this.#left <= 0) return undefined;
    this.#left--;
    const found = didYouMean(word, candidates);
    return found !== undefined && SHOWABLE.test(found) ? found : undefined;
  }

  suggestion(word: string, candidates: Iterable<string>): string {
    const s = this.didYouMean(word, candidates);
    return s === undefined ? '' : `; did you mean \`${s}\`?`;
  }
}
