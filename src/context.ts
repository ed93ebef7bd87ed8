// Every input of the action is read and checked here, once, into a typed Settings object;
// the rest of the code takes Settings and never calls runner.getInput.
import * as runner from './runner/index.ts';
import { resolveCloud } from './auth/cloud.ts';
import { FAIL_ON, type FailOn } from './audit/model.ts';
import { PROVE_MODES, type ProveMode } from './identity/prove-plan.ts';
import { parseDurationMs } from './util/duration.ts';
import { hasUnsafeChars, logSafe } from './util/escape.ts';
import { INPUT, TOKEN_EXCHANGE_AUDIENCE } from './names.ts';

export const MODES = ['plan', 'apply', 'rotate', 'verify', 'plan-cleanup', 'cleanup', 'audit'] as const;
export type Mode = (typeof MODES)[number];

export interface Settings {
  manifestPath: string;
  mode: Mode;
  clientId: string;
  tenantId: string;
  subscriptionId: string;
  /** Azure cloud (azure/login's `environment` names). */
  environment: string;
  /** Audience of the GitHub ID token exchanged at Entra. */
  audience: string;
  kubeconfig?: string;
  kubeContext?: string;
  /** Service-account issuer override (otherwise read from the cluster). */
  oidcIssuer?: string;
  /** Overall budget for waiting steps (proof of access, rollouts, the gate). */
  timeoutMs: number;
  /** Proof of access after ensuring identities (apply/rotate): every chain, the chains this run changed, or none. */
  prove: ProveMode;
  /** Run the gate after apply/rotate (verify mode always gates). */
  gate: boolean;
  /** `mode: audit`: which findings fail the step. */
  failOn: FailOn;
  /** `mode: audit`: keep one GitHub issue per manifest instance up to date with the findings. */
  issue: boolean;
  /** The job's token for the issue (`github-token`, else GITHUB_TOKEN); set when `issue` is. */
  githubToken?: string;
  /** GITHUB_API_URL (https://api.github.com outside a runner). */
  githubApiUrl: string;
  /** Environment the secret values are read from (the step's env). */
  env: Record<string, string | undefined>;
  /** Facts about the run used for ownership tags. */
  repository?: string;
  commit?: string;
  workspace: string;
}

export class InputError extends Error {
  constructor(input: string, message: string) {
    super(`input '${input}': ${message}`);
    this.name = 'InputError';
  }
}

/** Longest wait a timer can express: setTimeout fires at once for more than 2^31-1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Longest input taken as a name, path or URL. */
export const MAX_INPUT_LENGTH = 1_024;

/**
 * A text input that ends up in the log or in a request: bounded, and without control, bidi or
 * invisible characters (a line break in it could forge a workflow command).
 */
function textInput(name: string, fallback: string, pattern?: RegExp, rule?: string): string {
  const value = runner.getInput(name) || fallback;
  if (value.length > MAX_INPUT_LENGTH) throw new InputError(name, `is longer than ${MAX_INPUT_LENGTH} characters`);
  if (hasUnsafeChars(value)) throw new InputError(name, 'must not contain line breaks, control, bidirectional or invisible characters');
  if (value && pattern && !pattern.test(value)) throw new InputError(name, `${rule ?? 'is not valid'}; got '${logSafe(value, 100)}'`);
  return value;
}

function guidInput(name: string, required: boolean, fallbackEnv: string | undefined): string {
  const value = runner.getInput(name) || fallbackEnv || '';
  if (!value) {
    if (required) throw new InputError(name, "is required (the same value as azure/login's input of that name)");
    return '';
  }
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value)) {
    throw new InputError(name, 'must be a GUID');
  }
  return value.toLowerCase();
}

function booleanInput(name: string, fallback: boolean): boolean {
  const raw = runner.getInput(name).trim().toLowerCase();
  if (!raw) return fallback;
  if (['true', 'yes', '1'].includes(raw)) return true;
  if (['false', 'no', '0'].includes(raw)) return false;
  throw new InputError(name, `expected true or false, got '${logSafe(raw, 100)}'`);
}

function cloudInput(): string {
  const value = textInput(INPUT.environment, 'AzureCloud', /^[A-Za-z]{1,64}$/, 'must be an Azure cloud name such as AzureCloud');
  try {
    resolveCloud(value, {}); // the known names only (checked by own property: `constructor` is none)
  } catch (e) {
    throw new InputError(INPUT.environment, (e as Error).message);
  }
  return value;
}

/** `prove-access`: always | changed | never; the former booleans still mean always (true) and never (false). */
function proveInput(): ProveMode {
  const raw = runner.getInput(INPUT.proveAccess).trim().toLowerCase();
  if (!raw) return 'changed';
  if ((PROVE_MODES as readonly string[]).includes(raw)) return raw as ProveMode;
  if (['true', 'yes', '1'].includes(raw)) return 'always';
  if (['false', 'no', '0'].includes(raw)) return 'never';
  throw new InputError(INPUT.proveAccess, `expected ${PROVE_MODES.join(', ')} (or true / false), got '${logSafe(raw, 100)}'`);
}

/** `fail-on`: never | drift | expiry | any (default any). */
function failOnInput(): FailOn {
  const raw = runner.getInput(INPUT.failOn).trim().toLowerCase() || 'any';
  if ((FAIL_ON as readonly string[]).includes(raw)) return raw as FailOn;
  throw new InputError(INPUT.failOn, `expected ${FAIL_ON.join(', ')}; got '${logSafe(raw, 100)}'`);
}

/** The token for `issue: true`: required then, masked, never logged. */
function githubTokenInput(issue: boolean, env: Record<string, string | undefined>): string | undefined {
  if (!issue) return undefined;
  const token = runner.getInput(INPUT.githubToken) || env.GITHUB_TOKEN || '';
  if (!token) throw new InputError(INPUT.githubToken, 'is required with `issue: true` (the default `${{ github.token }}` needs `permissions: issues: write`)');
  if (!/^[\x21-\x7e]{1,2048}$/.test(token)) throw new InputError(INPUT.githubToken, 'must be 1-2048 printable characters without spaces');
  runner.setSecret(token);
  return token;
}

function githubApiUrl(env: Record<string, string | undefined>): string {
  const url = env.GITHUB_API_URL || 'https://api.github.com';
  if (url.length > MAX_INPUT_LENGTH || hasUnsafeChars(url) || !/^https?:\/\/[\x21-\x7e]+$/.test(url)) throw new InputError('GITHUB_API_URL', 'must be an http(s) URL');
  return url;
}

export function getSettings(env: Record<string, string | undefined> = process.env): Settings {
  const modeRaw = (runner.getInput(INPUT.mode) || 'apply').trim().toLowerCase();
  if (!(MODES as readonly string[]).includes(modeRaw)) {
    throw new InputError(INPUT.mode, `must be one of ${MODES.join(', ')}; got '${logSafe(modeRaw, 100)}'`);
  }
  const mode = modeRaw as Mode;
  // verify only reads the vault and the cluster but still logs in; every mode needs the ids.
  const timeoutRaw = runner.getInput(INPUT.timeout) || '10m';
  const timeoutMs = parseDurationMs(timeoutRaw);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    throw new InputError(INPUT.timeout, `expected seconds or a duration such as 90s, 10m, 1h; got '${logSafe(timeoutRaw, 100)}'`);
  }
  if (timeoutMs > MAX_TIMEOUT_MS) {
    throw new InputError(INPUT.timeout, `must be at most ${MAX_TIMEOUT_MS} ms (about 24 days): longer waits cannot be timed`);
  }
  const issue = mode === 'audit' && booleanInput(INPUT.issue, false);
  return {
    manifestPath: textInput(INPUT.manifest, 'akv-aks.yaml'),
    mode,
    clientId: guidInput(INPUT.clientId, true, env.AZURE_CLIENT_ID),
    tenantId: guidInput(INPUT.tenantId, true, env.AZURE_TENANT_ID),
    subscriptionId: guidInput(INPUT.subscriptionId, true, env.AZURE_SUBSCRIPTION_ID),
    environment: cloudInput(),
    audience: textInput(INPUT.audience, TOKEN_EXCHANGE_AUDIENCE, /^[\x21-\x7e]{1,256}$/, 'must be 1-256 printable characters without spaces, e.g. api://AzureADTokenExchange'),
    kubeconfig: textInput(INPUT.kubeconfig, '') || undefined,
    kubeContext: textInput(INPUT.context, '') || undefined,
    oidcIssuer: textInput(INPUT.oidcIssuer, '', /^https:\/\/[\x21-\x7e]+$/, 'must be an https:// URL') || undefined,
    timeoutMs,
    prove: proveInput(),
    gate: booleanInput(INPUT.gate, true),
    failOn: failOnInput(),
    issue,
    githubToken: githubTokenInput(issue, env),
    githubApiUrl: githubApiUrl(env),
    env,
    repository: env.GITHUB_REPOSITORY,
    commit: env.GITHUB_SHA,
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
  };
}
