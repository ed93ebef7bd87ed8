// `akv-aks validate|render`: the manifest engine from a terminal.
import { parseArgs } from 'node:util';
import { loadManifest } from '../manifest/load.ts';
import { ManifestReadError } from '../manifest/read.ts';
import { ManifestError } from '../manifest/types.ts';
import { logSafe } from '../util/escape.ts';
import type { ManifestDocument } from '../manifest/types.ts';
import { renderAll, toYaml } from '../render/render.ts';
import type { RenderFacts } from '../render/render.ts';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

const CLOUDS = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernmentCloud', 'AzureStackCloud'];

export const USAGE = `Usage:
  akv-aks validate [--check-env] FILE...
      Check manifests. Prints "FILE: valid (N secrets, M targets)" and exits 0, or prints
      every problem as "FILE:LINE:COL: error: MESSAGE" on stderr and exits 1.
      --check-env   also require the environment variables named by \`from: { env }\`
                    (their values are never printed)

  akv-aks render FILE [--tenant-id ID] [--client-id NAMESPACE=ID]... [--cloud NAME]
      Print the Kubernetes objects the manifest gives (Namespaces, ServiceAccounts,
      SecretProviderClasses) as multi-document YAML on stdout. Ids not given appear as
      placeholders: <tenant-id>, <client-id:IDENTITY-NAME>.
      --tenant-id ID              Entra tenant id
      --client-id NAMESPACE=ID    client id of the identity of NAMESPACE (repeatable)
      --cloud NAME                ${CLOUDS.join(' | ')}

  akv-aks help
      Show this help.

Exit codes: 0 success, 1 invalid manifest, 2 usage error or unreadable file.
`;

class UsageError extends Error {}

function load(file: string, io: CliIo, env?: Record<string, string | undefined>): ManifestDocument | number {
  try {
    // The same default owner as the action's (repository + path) where GITHUB_REPOSITORY is set.
    return loadManifest(file, { ...(env ? { env } : {}), repository: process.env.GITHUB_REPOSITORY });
  } catch (e) {
    if (e instanceof ManifestError) {
      io.stderr(`${e.message}\n`);
      return EXIT_INVALID;
    }
    if (e instanceof ManifestReadError) {
      io.stderr(`${e.message}\n`);
      return EXIT_USAGE;
    }
    const code = (e as NodeJS.ErrnoException).code;
    io.stderr(`${logSafe(file)}: error: cannot read the manifest${code ? ` (${logSafe(code, 32)})` : ''}\n`);
    return EXIT_USAGE;
  }
}

function validate(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({ args, options: { 'check-env': { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new UsageError('validate needs at least one FILE');
  let status = EXIT_OK;
  for (const file of positionals) {
    const doc = load(file, io, values['check-env'] ? io.env : undefined);
    if (typeof doc === 'number') {
      status = Math.max(status, doc);
      continue;
    }
    const { secrets, targets } = doc.manifest;
    io.stdout(`${logSafe(file)}: valid (${secrets.length} secret${secrets.length === 1 ? '' : 's'}, ${targets.length} target${targets.length === 1 ? '' : 's'})\n`);
  }
  return status;
}

function render(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({
    args,
    options: { 'tenant-id': { type: 'string' }, 'client-id': { type: 'string', multiple: true }, cloud: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('render needs exactly one FILE');
  const facts: RenderFacts = {};
  if (values['tenant-id'] !== undefined) {
    if (values['tenant-id'] === '') throw new UsageError('--tenant-id needs a value');
    facts.tenantId = values['tenant-id'];
  }
  for (const pair of values['client-id'] ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(pair);
    if (!m) throw new UsageError(`--client-id expects NAMESPACE=ID, got ${logSafe(JSON.stringify(pair), 100)}`);
    facts.clientIds = { ...facts.clientIds, [m[1]!]: m[2]! };
  }
  if (values.cloud !== undefined) {
    if (!CLOUDS.includes(values.cloud)) throw new UsageError(`--cloud must be one of ${CLOUDS.join(', ')}`);
    facts.cloudName = values.cloud;
  }
  const doc = load(positionals[0]!, io);
  if (typeof doc === 'number') return doc;
  const unknownNs = Object.keys(facts.clientIds ?? {}).filter((ns) => !doc.manifest.targets.some((t) => t.namespace === ns));
  if (unknownNs.length > 0) throw new UsageError(`--client-id names namespaces the manifest has no target in: ${logSafe(unknownNs.join(', '))}`);
  io.stdout(toYaml(renderAll(doc.manifest, facts)));
  return EXIT_OK;
}

/** Runs one command line (without the node and script arguments); returns the exit code. */
export function runCli(argv: readonly string[], io: CliIo): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'validate':
        return validate(rest, io);
      case 'render':
        return render(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return EXIT_OK;
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command ${logSafe(JSON.stringify(command), 100)}`);
    }
  } catch (e) {
    const parseError = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
    if (e instanceof UsageError || parseError) {
      io.stderr(`akv-aks: ${logSafe((e as Error).message, 500)}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
