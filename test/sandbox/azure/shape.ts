// Structural comparison of a JSON response with a reference example (Azure REST spec examples):
// every key of the example must exist in the actual value with the same JSON type, recursively
// (arrays: each actual element against the example's first element; an empty array matches). Extra keys are allowed:
// the live services return more fields than the examples show.

export type JsonType = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean';

export function jsonType(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as JsonType;
}

/** Mismatches as `path: reason`; `ignore` lists example paths (like `properties.hsmPoolResourceId`) to skip. */
export function shapeMismatches(example: unknown, actual: unknown, ignore: readonly string[] = [], path = ''): string[] {
  if (ignore.includes(path)) return [];
  const te = jsonType(example);
  const ta = jsonType(actual);
  if (te !== ta) return [`${path || '(root)'}: expected ${te}, got ${ta}`];
  const out: string[] = [];
  if (te === 'object') {
    const e = example as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      const p = path ? `${path}.${k}` : k;
      if (ignore.includes(p)) continue;
      if (!(k in a)) out.push(`${p}: missing`);
      else out.push(...shapeMismatches(e[k], a[k], ignore, p));
    }
  } else if (te === 'array') {
    const e = example as unknown[];
    const a = actual as unknown[];
    // an empty actual array is content, not shape (e.g. no key permissions)
    if (e.length > 0) for (const item of a) out.push(...shapeMismatches(e[0], item, ignore, `${path}[]`));
  }
  return out;
}
