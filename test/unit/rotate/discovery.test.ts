import { describe, expect, it } from '@jest/globals';
import { discoverConsumption, needsNewPod } from '../../../src/rotate/discovery.ts';
import { csiVolume, obj, podSpec, target } from './helpers.ts';

const api = target({
  namespace: 'payments',
  secretProviderClass: 'payments-secrets',
  objects: [obj('db-password', { alias: 'DB_PASSWORD' }), obj('api-key')],
  syncTo: {
    secretName: 'payments-env',
    type: 'Opaque',
    labels: {},
    annotations: {},
    keys: [
      { key: 'DB_PASSWORD', object: 'DB_PASSWORD' },
      { key: 'api-key', object: 'api-key' },
    ],
  },
});
const other = target({ namespace: 'payments', secretProviderClass: 'other-secrets', objects: [obj('tls-cert', { objectType: 'cert' })] });
const elsewhere = target({ namespace: 'billing', secretProviderClass: 'payments-secrets', objects: [obj('x')] });
const targets = [api, other, elsewhere];

describe('discoverConsumption', () => {
  it('finds a CSI volume by its secretProviderClass attribute and depends on every object', () => {
    const found = discoverConsumption('payments', podSpec({ volumes: [csiVolume('secrets', 'payments-secrets')] }), targets);
    expect(found).toHaveLength(1);
    expect(found[0]!.target).toBe(api);
    expect(found[0]!.ways).toEqual(['csi']);
    expect(found[0]!.objects.map((o) => o.secret)).toEqual(['db-password', 'api-key']);
    expect(needsNewPod(found[0]!)).toBe(false);
  });

  it('ignores other drivers, other SPC names and other namespaces', () => {
    const spec = podSpec({
      volumes: [{ name: 'a', csi: { driver: 'file.csi.azure.com', volumeAttributes: { secretProviderClass: 'payments-secrets' } } }, csiVolume('b', 'unknown-spc')],
    });
    expect(discoverConsumption('payments', spec, targets)).toEqual([]);
    expect(discoverConsumption('billing', podSpec({ volumes: [csiVolume('s', 'other-secrets')] }), targets)).toEqual([]);
  });

  it('an env secretKeyRef depends only on the object behind that key', () => {
    const spec = podSpec({
      containers: [{ name: 'app', env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'payments-env', key: 'DB_PASSWORD' } } }] }],
    });
    const found = discoverConsumption('payments', spec, targets);
    expect(found).toHaveLength(1);
    expect(found[0]!.ways).toEqual(['env']);
    expect(found[0]!.objects.map((o) => o.secret)).toEqual(['db-password']);
    expect(needsNewPod(found[0]!)).toBe(true);
  });

  it('envFrom and whole secret volumes depend on every synced object; init containers count', () => {
    const spec = podSpec({
      initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'payments-env' } }] }],
    });
    const found = discoverConsumption('payments', spec, targets);
    expect(found[0]!.ways).toEqual(['envFrom']);
    expect(found[0]!.objects.map((o) => o.secret).sort()).toEqual(['api-key', 'db-password']);
    const vol = discoverConsumption('payments', podSpec({ volumes: [{ name: 'v', secret: { secretName: 'payments-env' } }] }), targets);
    expect(vol[0]!.ways).toEqual(['volume']);
    expect(vol[0]!.objects).toHaveLength(2);
  });

  it('projected sources with items narrow the objects; unknown keys are reported', () => {
    const spec = podSpec({
      volumes: [
        {
          name: 'p',
          projected: {
            sources: [
              {
                secret: {
                  name: 'payments-env',
                  items: [
                    { key: 'api-key', path: 'k' },
                    { key: 'NOPE', path: 'n' },
                  ],
                },
              },
            ],
          },
        },
      ],
    });
    const found = discoverConsumption('payments', spec, targets);
    expect(found[0]!.objects.map((o) => o.secret)).toEqual(['api-key']);
    expect(found[0]!.missingKeys).toEqual(['NOPE']);
  });

  it('flags subPath mounts of the target volumes only', () => {
    const spec = podSpec({
      volumes: [csiVolume('secrets', 'payments-secrets'), { name: 'cfg', configMap: { name: 'cfg' } }],
      containers: [
        {
          name: 'app',
          volumeMounts: [
            { name: 'secrets', mountPath: '/etc/pw', subPath: 'DB_PASSWORD' },
            { name: 'cfg', mountPath: '/etc/cfg', subPath: 'x' },
          ],
        },
      ],
    });
    const found = discoverConsumption('payments', spec, targets);
    expect(found[0]!.subPathMounts).toEqual(['app: secrets']);
  });

  it('one template can consume several targets', () => {
    const spec = podSpec({ volumes: [csiVolume('a', 'payments-secrets'), csiVolume('b', 'other-secrets')] });
    expect(discoverConsumption('payments', spec, targets).map((c) => c.target.secretProviderClass)).toEqual(['payments-secrets', 'other-secrets']);
  });
});
