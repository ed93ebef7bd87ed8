import { describe, expect, it } from '@jest/globals';
import { discoverConsumption } from '../../../src/rotate/discovery.ts';
import type { ConsumedTarget } from '../../../src/rotate/discovery.ts';
import { decideRestart, indexVersions, mountedVersionsDigest, staleEvidence } from '../../../src/rotate/decide.ts';
import type { WorkloadObservation } from '../../../src/rotate/decide.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { csiVolume, obj, podSpec, target } from './helpers.ts';

const t = target({ namespace: 'ns', secretProviderClass: 'spc', objects: [obj('a'), obj('b'), obj('pinned', { version: 'p1' })] });
const envTarget = target({
  namespace: 'ns',
  secretProviderClass: 'spc-env',
  objects: [obj('e')],
  syncTo: { secretName: 'env-secret', type: 'Opaque', labels: {}, annotations: {}, keys: [{ key: 'E', object: 'e' }] },
});
const csiConsumed = (tt = t): ConsumedTarget[] => discoverConsumption('ns', podSpec({ volumes: [csiVolume('v', tt.secretProviderClass)] }), [tt]);
const envConsumed = (): ConsumedTarget[] => discoverConsumption('ns', podSpec({ containers: [{ name: 'c', envFrom: [{ secretRef: { name: 'env-secret' } }] }] }), [envTarget]);

const v = (list: Array<[string, string, boolean]>): SecretVersion[] => list.map(([name, version, changed]) => ({ name, version, changed }));
const ref = { kind: 'Deployment' as const, namespace: 'ns', name: 'api' };
const T0 = new Date('2026-06-01T00:00:00Z');

function observation(over: Partial<WorkloadObservation> = {}): WorkloadObservation {
  return { ref, consumed: csiConsumed(), pods: [], ...over };
}

describe('mountedVersionsDigest', () => {
  it('changes when any mounted version changes, not with order, and uses pinned versions', () => {
    const a = mountedVersionsDigest(
      csiConsumed(),
      indexVersions(
        v([
          ['a', '1', false],
          ['b', '1', false],
          ['pinned', 'latest', false],
        ]),
      ),
    );
    const b = mountedVersionsDigest(
      csiConsumed(),
      indexVersions(
        v([
          ['b', '1', false],
          ['a', '1', false],
          ['pinned', 'other', true],
        ]),
      ),
    );
    const c = mountedVersionsDigest(
      csiConsumed(),
      indexVersions(
        v([
          ['a', '2', true],
          ['b', '1', false],
        ]),
      ),
    );
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('is undefined when no consumed target rotates by restart', () => {
    const csiRot = { ...t, rotation: 'csi' as const };
    expect(mountedVersionsDigest(csiConsumed(csiRot), indexVersions([]))).toBeUndefined();
  });
});

describe('decideRestart', () => {
  const now = indexVersions(
    v([
      ['a', '2', true],
      ['b', '1', false],
    ]),
  );
  const before = indexVersions(
    v([
      ['a', '1', false],
      ['b', '1', false],
    ]),
  );
  const oldDigest = mountedVersionsDigest(csiConsumed(), before)!;
  const newDigest = mountedVersionsDigest(csiConsumed(), now)!;

  it('no change: nothing to do', () => {
    const d = decideRestart(observation({ templateDigest: newDigest }), now, T0);
    expect(d.action).toBe('unchanged');
  });

  it('the metadata record counts as the last digest when the template has none', () => {
    expect(decideRestart(observation({ recordedDigest: newDigest }), now, T0).action).toBe('unchanged');
    const d = decideRestart(observation({ recordedDigest: oldDigest }), now, T0);
    expect(d.action).toBe('restart');
    expect(d.reason).toBe('new version of a');
  });

  it('a changed digest restarts once, naming every changed object', () => {
    const both = indexVersions(
      v([
        ['a', '2', true],
        ['b', '2', true],
      ]),
    );
    const d = decideRestart(observation({ templateDigest: oldDigest }), both, T0);
    expect(d.action).toBe('restart');
    expect(d.changed).toEqual(['a', 'b']);
    expect(d.digest).toBe(mountedVersionsDigest(csiConsumed(), both));
  });

  it('first deploy with pods on the expected versions (or not mounted yet) records without a rollout', () => {
    const pods = [
      {
        name: 'p1',
        createdAt: new Date('2026-01-01'),
        mounted: new Map([
          [
            'spc',
            new Map([
              ['secret/a', '2'],
              ['secret/b', '1'],
            ]),
          ],
        ]),
      },
      { name: 'p2', createdAt: new Date('2026-01-01'), mounted: new Map() },
    ];
    const d = decideRestart(observation({ pods }), now, T0);
    expect(d.action).toBe('record');
    expect(d.digest).toBe(newDigest);
  });

  it('first run against pods that mounted an old version restarts', () => {
    const pods = [
      {
        name: 'p1',
        createdAt: new Date('2026-01-01'),
        mounted: new Map([
          [
            'spc',
            new Map([
              ['secret/a', '1'],
              ['secret/b', '1'],
            ]),
          ],
        ]),
      },
    ];
    const d = decideRestart(observation({ pods }), now, T0);
    expect(d.action).toBe('restart');
    expect(d.changed).toEqual(['a']);
  });

  it('env consumers: pods created before the change are stale, pods created after are not', () => {
    const versions = indexVersions(v([['e', '2', true]]));
    const oldPod = { name: 'p', createdAt: new Date(T0.getTime() - 1000), mounted: new Map() };
    const newPod = { name: 'q', createdAt: new Date(T0.getTime() + 1000), mounted: new Map() };
    expect(staleEvidence(observation({ consumed: envConsumed(), pods: [oldPod] }), versions, T0)).toEqual(['e']);
    expect(decideRestart(observation({ consumed: envConsumed(), pods: [newPod] }), versions, T0).action).toBe('record');
    const unchanged = indexVersions(v([['e', '2', false]]));
    expect(decideRestart(observation({ consumed: envConsumed(), pods: [oldPod] }), unchanged, T0).action).toBe('record');
  });

  it('rotation csi / none never restart', () => {
    const csiRot = { ...t, rotation: 'csi' as const };
    const d = decideRestart(observation({ consumed: csiConsumed(csiRot), templateDigest: 'x' }), now, T0);
    expect(d.action).toBe('unchanged');
    expect(d.reason).toBe('rotation: csi');
  });
});
