// Plain-text tables for the log: cells made inert (logSafe) and padded to aligned columns.
import { logSafe } from './escape.ts';

export function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** Header, a dashed rule and one aligned line per row. */
export function textTable(header: string[], rawRows: string[][]): string[] {
  const rows = rawRows.map((r) => r.map((cell) => logSafe(cell)));
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => pad(cell, widths[c]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
