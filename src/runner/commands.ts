// The runner's workflow commands (`::name props::data` lines on stdout) and file commands
// (GITHUB_OUTPUT), written by the action itself: @actions/core brought a second HTTP stack (undici)
// into every run's start for its OIDC client, about 45 ms. Formats as the runner parses them
// (docs.github.com, "Workflow commands for GitHub Actions"); design note in docs/architecture.md.
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { EOL } from 'node:os';

/** Where an annotation points (the runner's `title`, `file`, `line`, `endLine`, `col`, `endColumn`). */
export interface AnnotationProperties {
  title?: string;
  file?: string;
  startLine?: number;
  endLine?: number;
  startColumn?: number;
  endColumn?: number;
}

/** A command's data: `%`, CR and LF encoded, so a value cannot end the line and start a command. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A command property: as data, plus `:` and `,`, which separate properties. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** One workflow command line. */
export function commandLine(name: string, properties: Record<string, string | number | undefined>, data: string): string {
  const props = Object.entries(properties)
    .filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${name}${props ? ` ${props}` : ''}::${escapeData(data)}`;
}

function issue(name: string, properties: Record<string, string | number | undefined>, data: string): void {
  process.stdout.write(commandLine(name, properties, data) + EOL);
}

/** A plain log line (or lines). */
export function info(message: string): void {
  process.stdout.write(message + EOL);
}

/**
 * Shown only when step debug logging is on, and only written then: the runner sets RUNNER_DEBUG=1
 * exactly when it would show them (a 5,000-secret run wrote 200 KiB of hidden debug lines).
 */
export function debug(message: string): void {
  if (process.env.RUNNER_DEBUG === '1') issue('debug', {}, message);
}

function annotationProps(p: AnnotationProperties): Record<string, string | number | undefined> {
  return { title: p.title, file: p.file, line: p.startLine, endLine: p.endLine, col: p.startColumn, endColumn: p.endColumn };
}

export function error(message: string, properties: AnnotationProperties = {}): void {
  issue('error', annotationProps(properties), message);
}

export function warning(message: string, properties: AnnotationProperties = {}): void {
  issue('warning', annotationProps(properties), message);
}

/** Asks the runner to replace this text with *** in every later log line. */
export function setSecret(secret: string): void {
  issue('add-mask', {}, secret);
}

/** setSecret for many texts in one write: one pipe write instead of one per value of a large manifest. */
export function setSecrets(secrets: readonly string[]): void {
  if (secrets.length) process.stdout.write(secrets.map((s) => commandLine('add-mask', {}, s) + EOL).join(''));
}

/** Marks the step failed (exit code 1) with an error annotation. */
export function setFailed(message: string): void {
  process.exitCode = 1;
  error(message);
}

/** Runs `fn` inside a collapsible log group. */
export async function group<T>(name: string, fn: () => Promise<T>): Promise<T> {
  issue('group', {}, name);
  try {
    return await fn();
  } finally {
    issue('endgroup', {}, '');
  }
}

/** An input as the runner passes it (INPUT_<NAME>, spaces as underscores), trimmed; '' when not given. */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

/**
 * A step output. Through the GITHUB_OUTPUT file (a heredoc with a random delimiter, which neither
 * the name nor the value may contain); outside a runner, the deprecated command.
 */
export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT;
  if (!file) {
    process.stdout.write(EOL);
    issue('set-output', { name }, value);
    return;
  }
  if (!existsSync(file)) throw new Error(`Missing file at path: ${file}`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output ${name}: the name or value contains the delimiter`);
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, { encoding: 'utf8' });
}
