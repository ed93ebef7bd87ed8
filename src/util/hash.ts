// Short, stable hashes for names derived from longer input (cut or normalised names carry one, so
// two inputs that cut or normalise alike still give two names).

/** FNV-1a (32-bit) of the UTF-16 code units, as 8 hex digits. Not cryptographic: names only. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** `text` when it fits in `max` characters, else its first characters, `-` and shortHash(text). */
export function cutWithHash(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = shortHash(text);
  return `${text.slice(0, max - hash.length - 1).replace(/[-_.]+$/, '')}-${hash}`;
}
