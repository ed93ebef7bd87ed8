// Leak scan: every log, output, summary and report a scenario produced is searched for every secret
// value the scenario used, in the forms a value could slip out in: as is, each line of a multi-line
// value, base64 (all three byte alignments, so a value inside a longer base64 blob is found too),
// base64url, URL-encoded (encodeURIComponent and form encoding) and JSON-escaped. A hit names the
// artifact, the form and the offset; never the value.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Values shorter than this are not scanned (they would match by chance); test values are longer. */
export const MIN_SCANNED_LENGTH = 8;

export interface Leak {
  /** Which secret (the label given to addSecret, never the value). */
  secret: string;
  /** raw, line, base64@k, base64url@k, url, form, json. */
  form: string;
  /** Which artifact: e.g. `apply#2 log`, `apply#2 output report`. */
  artifact: string;
  offset: number;
}

/** Minimal shape of a runner result (test/support/runner.ts RunnerResult). */
export interface RunArtifacts {
  log: string;
  outputs: Record<string, string>;
  summary: string;
  summaryPath?: string;
}

/** Base64 of `value` as it appears inside a longer base64 text that starts `k` bytes before it. */
function base64Cores(bytes: Buffer, alphabet: 'base64' | 'base64url'): Array<{ k: number; text: string }> {
  const out: Array<{ k: number; text: string }> = [];
  for (let k = 0; k < 3; k++) {
    const padded = Buffer.concat([Buffer.alloc(k), bytes]);
    let text = padded.toString(alphabet).replace(/=+$/, '');
    // Leading characters mix in the k unknown bytes before the value; trailing ones the bytes after it.
    const lead = k === 0 ? 0 : 4;
    const total = padded.length;
    const fullGroups = Math.floor(total / 3) * 4;
    text = text.slice(lead, fullGroups);
    out.push({ k, text });
  }
  return out;
}

/** Every searchable form of one value (deduplicated, each at least MIN_SCANNED_LENGTH long). */
export function valueForms(value: string): Array<{ form: string; text: string }> {
  const forms: Array<{ form: string; text: string }> = [];
  const add = (form: string, text: string): void => {
    if (text.length >= MIN_SCANNED_LENGTH && !forms.some((f) => f.text === text)) forms.push({ form, text });
  };
  add('raw', value);
  for (const line of value.split(/\r?\n/)) add('line', line.trim());
  const bytes = Buffer.from(value, 'utf8');
  for (const { k, text } of base64Cores(bytes, 'base64')) add(`base64@${k}`, text);
  for (const { k, text } of base64Cores(bytes, 'base64url')) add(`base64url@${k}`, text);
  add('url', encodeURIComponent(value));
  add('form', new URLSearchParams({ v: value }).toString().slice(2));
  add('json', JSON.stringify(value).slice(1, -1));
  return forms;
}

/** The log as the runner shows it: without the `::add-mask::` commands it consumes. */
export function visibleLog(log: string): string {
  return log
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}

/** Captures what @actions/core (and anything else) writes to stdout, for the no-secret-in-logs checks. */
export function captureStdout(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  return {
    text: () => chunks.join(''),
    stop: () => {
      process.stdout.write = original;
    },
  };
}

export class LeakScan {
  private readonly secrets: Array<{ label: string; value: string }> = [];
  private readonly artifacts: Array<{ label: string; text: string }> = [];

  /** A value the scenario used (env value, or a generated value read back from the vault). */
  addSecret(label: string, value: string | undefined): void {
    if (value === undefined || value.length < MIN_SCANNED_LENGTH) {
      throw new Error(`leak scan: secret ${label} is missing or shorter than ${MIN_SCANNED_LENGTH} characters (use longer test values)`);
    }
    if (!this.secrets.some((s) => s.value === value)) this.secrets.push({ label, value });
  }

  addArtifact(label: string, text: string): void {
    this.artifacts.push({ label, text });
  }

  /**
   * Log, every output (the JSON report included), the step summary and the runner's command files.
   * `::add-mask::` commands are left out of the log: they are how a step hands values to the runner's
   * masker, which consumes them (they never show in the job log).
   */
  addRun(label: string, r: RunArtifacts): void {
    this.addArtifact(`${label} log`, visibleLog(r.log));
    for (const [name, value] of Object.entries(r.outputs)) this.addArtifact(`${label} output ${name}`, value);
    this.addArtifact(`${label} summary`, r.summary);
    if (r.summaryPath) {
      // GITHUB_ENV / GITHUB_STATE / GITHUB_PATH next to the summary: whatever the step exported.
      for (const f of ['env', 'state', 'path', 'output']) {
        const p = join(dirname(r.summaryPath), f);
        if (existsSync(p)) this.addArtifact(`${label} ${f} file`, readFileSync(p, 'utf8'));
      }
    }
  }

  get secretCount(): number {
    return this.secrets.length;
  }

  get artifactCount(): number {
    return this.artifacts.length;
  }

  scan(): Leak[] {
    const leaks: Leak[] = [];
    for (const s of this.secrets) {
      const forms = valueForms(s.value);
      for (const a of this.artifacts) {
        for (const f of forms) {
          const at = a.text.indexOf(f.text);
          if (at >= 0) leaks.push({ secret: s.label, form: f.form, artifact: a.label, offset: at });
        }
      }
    }
    return leaks;
  }

  /** Throws (value-free) when any artifact holds any form of any secret. */
  assertNoLeaks(): void {
    if (!this.secrets.length) throw new Error('leak scan: no secrets registered (the scan would prove nothing)');
    if (!this.artifacts.length) throw new Error('leak scan: no artifacts registered (the scan would prove nothing)');
    const leaks = this.scan();
    if (leaks.length) {
      throw new Error(`leak scan: ${leaks.length} hit(s):\n` + leaks.map((l) => `  secret ${l.secret} (${l.form}) in ${l.artifact} at offset ${l.offset}`).join('\n'));
    }
  }
}
