// `npm run demo`: the main job end to end on the local sandbox, as a GitHub runner would run it.
// 1. builds the bundle if missing and starts the sandbox (first start builds the control plane);
// 2. plan, then apply a sample manifest (vault secrets, identity, federation, role, SA, SPC);
// 3. deploys a sample app that mounts the SecretProviderClass and gates on it with verify;
// 4. changes one secret value and applies again: only its consumer restarts, the gate waits for it.
// It prints each step's log as the runner shows it, the gate's per-pod table, and the summaries.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { runAction, type RunnerResult } from '../test/support/runner.ts';

const root = resolve(import.meta.dirname, '..');
const stateDir = join(root, '.sandbox');
const workspace = join(stateDir, 'demo');

const MANIFEST = `# yaml-language-server: $schema=../../dist/akv-aks.schema.json
apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: sandbox }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
secrets:
  - name: demo-db-password
    from: { env: DB_PASSWORD }
    contentType: text/plain
  - name: demo-api-key
    generate: { length: 40, rotateAfter: 30d }
targets:
  - namespace: demo
    createNamespace: true
    serviceAccount: demo-app
    identity: { create: true }
    secretProviderClass: demo-secrets
    objects:
      - { secret: demo-db-password, alias: DB_PASSWORD }
      - { secret: demo-api-key, alias: API_KEY }
    rotation: restart
`;

const APP: KubernetesObject & Record<string, unknown> = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'demo', labels: { app: 'web' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web', 'azure.workload.identity/use': 'true' } },
      spec: {
        serviceAccountName: 'demo-app',
        containers: [{ name: 'web', image: 'mcr.microsoft.com/oss/nginx/nginx:1.27.3', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets-store', readOnly: true }] }],
        volumes: [{ name: 'secrets', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: 'demo-secrets' } } }],
      },
    },
  },
};

function say(title: string): void {
  process.stdout.write(`\n\x1b[1m━━ ${title}\x1b[0m\n`);
}

/** Shows the log as the runner's UI does: groups as headings, masking commands hidden. */
function runnerView(chunk: string): void {
  for (const line of chunk.split('\n')) {
    if (!line || line.startsWith('::add-mask::') || line.startsWith('::debug::') || line === '::endgroup::') continue;
    if (line.startsWith('::group::')) process.stdout.write(`  ▸ ${line.slice(9)}\n`);
    else if (line.startsWith('::error')) process.stdout.write(`    ERROR ${line.replace(/^::error[^:]*::/, '')}\n`);
    else if (line.startsWith('::warning')) process.stdout.write(`    WARNING ${line.replace(/^::warning[^:]*::/, '')}\n`);
    else process.stdout.write(`    ${line}\n`);
  }
}

async function step(title: string, mode: string, env: Record<string, string>, sandbox: Record<string, string>, entry = 'dist/index.js'): Promise<RunnerResult> {
  say(title);
  const inputs: Record<string, string> = {
    manifest: 'akv-aks.yaml',
    'client-id': sandbox.AKV_AKS_SANDBOX_CLIENT_ID!,
    'tenant-id': sandbox.AKV_AKS_SANDBOX_TENANT_ID!,
    'subscription-id': sandbox.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!,
    timeout: '5m',
  };
  if (entry === 'dist/index.js') inputs.mode = mode;
  const r = await runAction({ entry, inputs, env, workspace, baseEnv: sandbox, onLog: runnerView });
  const outputs = Object.entries(r.outputs)
    .filter(([k]) => k !== 'report')
    .map(([k, v]) => `${k}=${v}`)
    .join('  ');
  process.stdout.write(`  → exit ${r.exitCode} in ${(r.durationMs / 1000).toFixed(1)} s; outputs: ${outputs}\n  → step summary: ${r.summaryPath}\n`);
  if (r.exitCode !== 0) throw new Error(`${title}: the action failed (exit ${r.exitCode})`);
  return r;
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    say('Building the bundle (dist/)');
    execFileSync(process.execPath, [join(root, 'scripts', 'build.ts')], { stdio: 'inherit' });
  }
  say('Starting the sandbox (local Azure + local AKS)');
  execFileSync(process.execPath, [join(root, 'test', 'sandbox', 'cli.ts'), 'up', '--detach', '--azure-propagation'], { stdio: 'inherit' });
  const { readEnv } = await import('../test/sandbox/cli.ts');
  const sandbox = readEnv();

  mkdirSync(workspace, { recursive: true });
  writeFileSync(join(workspace, 'akv-aks.yaml'), MANIFEST);
  process.stdout.write(`  manifest: ${join(workspace, 'akv-aks.yaml')}\n`);
  const secrets = { DB_PASSWORD: `demo-${Date.now().toString(36)}-password` };

  await step('1. plan: what would change (nothing is written)', 'plan', secrets, sandbox);
  await step('2. apply: vault, identity, federation, role, ServiceAccount, SecretProviderClass', 'apply', secrets, sandbox);

  say('3. deploying the sample app (2 replicas mounting demo-secrets)');
  const kc = new KubeConfig();
  kc.loadFromFile(sandbox.KUBECONFIG!);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  await objects.patch(APP, undefined, undefined, 'akv-aks-demo', true, PatchStrategy.ServerSideApply);
  process.stdout.write('  deployment demo/web applied\n');
  await step('4. verify: the release gate (uses: org/akv-aks-action/verify@v1)', 'verify', {}, sandbox, 'dist/verify/index.js');

  const changed = { DB_PASSWORD: `${secrets.DB_PASSWORD}-rotated` };
  await step('5. apply with a new DB_PASSWORD: one new version, web restarts, the gate waits for it', 'apply', changed, sandbox);
  say('Done');
  process.stdout.write('  The sandbox is still up: `npm run sandbox -- down` stops it.\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`\ndemo failed: ${(e as Error).message}\n`);
  process.exit(1);
});
