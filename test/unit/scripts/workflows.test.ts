// Facts the repository's workflows rely on that actionlint cannot see: the CI cache key reads the
// control plane's pins out of build.ts, the Azure run is gated on the repository's variables, and
// Dependabot watches what the workflows and package.json pin.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Step {
  id?: string;
  uses?: string;
  run?: string;
}
interface Workflow {
  on: unknown;
  jobs: Record<string, { if?: string; steps: Step[] }>;
}
const workflow = (name: string): Workflow => parse(read(join('.github', 'workflows', name))) as Workflow;

describe('the repository workflows', () => {
  it('ci keys the control-plane cache on the three pins of test/sandbox/kube/build.ts', () => {
    const pins = workflow('ci.yml').jobs.test!.steps.find((s) => s.id === 'pins')!.run!;
    const pattern = /grep -E '([^']+)'/.exec(pins)![1]!;
    const matched = read('test/sandbox/kube/build.ts')
      .split('\n')
      .filter((l) => new RegExp(pattern).test(l));
    expect(matched.map((l) => /const (\w+)/.exec(l)![1]).sort()).toEqual(['ETCD_VERSION', 'KUBERNETES_VERSION', 'RECIPE']);
  });

  it('e2e-azure runs only on schedule or by hand, and only when the repository variables are set', () => {
    const w = workflow('e2e-azure.yml');
    expect(Object.keys(w.on as object).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.jobs.e2e!.if).toContain("vars.AZURE_CLIENT_ID != ''");
    const cleanup = w.jobs.e2e!.steps.find((s) => s.uses === './' && /cleanup/.test(JSON.stringify(s)) && !/plan-cleanup/.test(JSON.stringify(s)));
    expect(cleanup).toMatchObject({ if: 'always()' });
  });

  it('every action a workflow uses is this repository or pinned to a release tag', () => {
    for (const file of readdirSync(join(root, '.github', 'workflows'))) {
      for (const job of Object.values(workflow(file).jobs)) {
        for (const s of job.steps) if (s.uses) expect(`${file}: ${s.uses}`).toMatch(/: (\.\/.*|[\w-]+\/[\w-]+@v\d+)$/);
      }
    }
  });

  it("Dependabot watches npm and the workflows' actions", () => {
    const d = parse(read('.github/dependabot.yml')) as { updates: Array<{ 'package-ecosystem': string }> };
    expect(d.updates.map((u) => u['package-ecosystem']).sort()).toEqual(['github-actions', 'npm']);
  });
});
