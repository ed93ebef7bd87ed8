// The job summary (GITHUB_STEP_SUMMARY): a buffer of HTML/Markdown appended to the file on write().
// The caller escapes every text it adds (cells and items are inserted as raw HTML).
import { access, appendFile, constants } from 'node:fs/promises';
import { EOL } from 'node:os';

export type SummaryCell = string | { data: string; header?: boolean; colspan?: number; rowspan?: number };

function wrap(tag: string, content: string, attrs: Record<string, string | number | undefined> = {}): string {
  const html = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${String(v)}"`)
    .join('');
  return content ? `<${tag}${html}>${content}</${tag}>` : `<${tag}${html}>`;
}

export class Summary {
  private buffer = '';

  addRaw(text: string, addEOL = false): this {
    this.buffer += text;
    return addEOL ? this.addEOL() : this;
  }

  addEOL(): this {
    return this.addRaw(EOL);
  }

  private addElement(html: string): this {
    return this.addRaw(html).addEOL();
  }

  addHeading(text: string, level = 1): this {
    const tag = level >= 1 && level <= 6 ? `h${level}` : 'h1';
    return this.addElement(wrap(tag, text));
  }

  addCodeBlock(code: string, lang?: string): this {
    return this.addElement(wrap('pre', wrap('code', code), { lang }));
  }

  addList(items: string[], ordered = false): this {
    return this.addElement(wrap(ordered ? 'ol' : 'ul', items.map((i) => wrap('li', i)).join('')));
  }

  addTable(rows: SummaryCell[][]): this {
    const cell = (c: SummaryCell): string => (typeof c === 'string' ? wrap('td', c) : wrap(c.header ? 'th' : 'td', c.data, { colspan: c.colspan, rowspan: c.rowspan }));
    return this.addElement(wrap('table', rows.map((r) => wrap('tr', r.map(cell).join(''))).join('')));
  }

  addDetails(label: string, content: string): this {
    return this.addElement(wrap('details', wrap('summary', label) + content));
  }

  /** The buffer as it would be written. */
  stringify(): string {
    return this.buffer;
  }

  emptyBuffer(): this {
    this.buffer = '';
    return this;
  }

  /** Appends the buffer to the step summary file and empties it. */
  async write(): Promise<this> {
    const file = process.env.GITHUB_STEP_SUMMARY;
    if (!file) throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY. Check if your runtime environment supports job summaries.');
    try {
      await access(file, constants.R_OK | constants.W_OK);
    } catch {
      throw new Error(`Unable to access summary file: '${file}'. Check if the file has correct read/write permissions.`);
    }
    await appendFile(file, this.buffer, { encoding: 'utf8' });
    return this.emptyBuffer();
  }
}

/** The step's summary buffer. */
export const summary = new Summary();
