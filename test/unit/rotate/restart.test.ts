// restartChangedWorkloads against an in-memory fake of the few API calls it makes.
import { describe, expect, it } from '@jest/globals';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { csiVolume, deployment, manifest, obj, pod, podSpec, fakeRotateKube, replicaSet, spcps, target } from './helpers.ts';
import { DIGEST_ANNOTATION } from '../../../src/names.ts';

const a = target({ namespace: 'ns', secretProviderClass: 'spc-a', objects: [obj('one'), obj('two')] });
const b = target({ namespace: 'ns', secretProviderClass: 'spc-b', objects: [obj('three')] });
const m = manifest([a, b]);
const v = (one: string, two: string, three: string, changed: string[]): SecretVersion[] => [
  { name: 'one', version: one, changed: changed.includes('one') },
  { name: 'two', version: two, changed: changed.includes('two') },
  { name: 'three', version: three, changed: changed.includes('three') },
];

describe('restartChangedWorkloads', () => {
  it('restarts only consumers of changed objects, once each, with a merge patch of the template annotation', async () => {
    // api mounts both SPCs, worker mounts spc-b only, web mounts nothing of ours.
    const before = v('1', '1', '1', []);
    const first = fakeRotateKube(
      [
        deployment('ns', 'api', podSpec({ volumes: [csiVolume('x', 'spc-a'), csiVolume('y', 'spc-b')] })),
        deployment('ns', 'worker', podSpec({ volumes: [csiVolume('y', 'spc-b')] })),
        deployment('ns', 'web', podSpec()),
      ],
      [],
      [],
      [],
    );
    // First run: no digests yet, no evidence of old content: recorded, never rolled.
    const r1 = await restartChangedWorkloads(first.kube, m, before, { mode: 'apply' });
    expect(r1.restarted).toEqual([]);
    expect(r1.items.map((i) => `${i.name}:${i.action}`)).toEqual(['ns/api:unchanged', 'ns/worker:unchanged']);
    expect(first.patches).toHaveLength(2);
    for (const p of first.patches) expect((p.body as { spec?: unknown }).spec).toBeUndefined();
    const recorded = Object.fromEntries(
      first.patches.map((p) => [(p.body.metadata as { name: string }).name, (p.body.metadata as { annotations: Record<string, string> }).annotations[DIGEST_ANNOTATION]!]),
    );

    // Second run: one and two changed (both used by api only).
    const after = v('2', '2', '1', ['one', 'two']);
    const second = fakeRotateKube(
      [
        deployment('ns', 'api', podSpec({ volumes: [csiVolume('x', 'spc-a'), csiVolume('y', 'spc-b')] }), { annotations: { [DIGEST_ANNOTATION]: recorded.api! } }),
        deployment('ns', 'worker', podSpec({ volumes: [csiVolume('y', 'spc-b')] }), { annotations: { [DIGEST_ANNOTATION]: recorded.worker! } }),
      ],
      [],
      [],
      [],
    );
    const r2 = await restartChangedWorkloads(second.kube, m, after, { mode: 'apply' });
    expect(r2.restarted).toEqual([{ kind: 'Deployment', namespace: 'ns', name: 'api', reason: 'new version of one, two' }]);
    expect(second.patches).toHaveLength(1);
    const patch = second.patches[0]!;
    expect(patch.strategy).toBe('application/merge-patch+json');
    expect(patch.fieldManager).toBe('akv-aks-action');
    const tmpl = (patch.body as { spec: { template: { metadata: { annotations: Record<string, string> } } } }).spec.template.metadata.annotations[DIGEST_ANNOTATION];
    expect(tmpl).toMatch(/^[0-9a-f]{32}$/);
    expect(tmpl).not.toBe(recorded.api);
  });

  it('plan mode writes nothing; pods holding old versions are restarted on a first run', async () => {
    const d = deployment('ns', 'worker', podSpec({ volumes: [csiVolume('y', 'spc-b')] }));
    const rs = replicaSet(d, 'worker-1');
    const p = pod(rs, 'worker-1-a');
    const fake = fakeRotateKube([d], [rs], [p], [spcps(p, 'spc-b', { 'secret/three': '1' })]);
    const plan = await restartChangedWorkloads(fake.kube, m, v('1', '1', '2', ['three']), { mode: 'plan' });
    expect(plan.items).toEqual([{ kind: 'workload', name: 'ns/worker', namespace: 'ns', action: 'restart', reason: 'Deployment: pods hold an old version of three' }]);
    expect(fake.patches).toHaveLength(0);
  });

  it('warns about subPath mounts', async () => {
    const spec = podSpec({ volumes: [csiVolume('y', 'spc-b')], containers: [{ name: 'c', volumeMounts: [{ name: 'y', mountPath: '/x', subPath: 'three' }] }] });
    const fake = fakeRotateKube([deployment('ns', 'w', spec)], [], [], []);
    const r = await restartChangedWorkloads(fake.kube, m, v('1', '1', '1', []), { mode: 'plan' });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('subPath (c: y)');
  });
});
