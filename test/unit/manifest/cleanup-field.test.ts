// The top-level `cleanup:` switch of the manifest (read by mode cleanup / plan-cleanup only).
import { describe, expect, test } from '@jest/globals';
import { parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError } from '../../../src/manifest/types.ts';

const BASE = `apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: sandbox }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
secrets:
  - name: db-password
    from: { env: DB_PASSWORD }
targets:
  - namespace: payments
    serviceAccount: payments-api
    secretProviderClass: payments-secrets
    objects:
      - { secret: db-password }
`;

function issues(text: string): string[] {
  try {
    parseManifest(text, 'm.yaml');
  } catch (e) {
    if (e instanceof ManifestError) return e.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('manifest cleanup switch', () => {
  test('absent: no cleanup field (clean-up then keeps secrets)', () => {
    expect(parseManifest(BASE, 'm.yaml').manifest.cleanup).toBeUndefined();
  });

  test('deleteSecrets and purge are read, each defaulting to false', () => {
    expect(parseManifest(`${BASE}cleanup: { deleteSecrets: true }\n`, 'm.yaml').manifest.cleanup).toEqual({ deleteSecrets: true, purge: false });
    expect(parseManifest(`${BASE}cleanup: { deleteSecrets: true, purge: true }\n`, 'm.yaml').manifest.cleanup).toEqual({ deleteSecrets: true, purge: true });
    expect(parseManifest(`${BASE}cleanup: {}\n`, 'm.yaml').manifest.cleanup).toEqual({ deleteSecrets: false, purge: false });
  });

  test('purge without deleteSecrets is refused at the purge key', () => {
    expect(issues(`${BASE}cleanup:\n  purge: true\n`)).toEqual(['15:3 cleanup.purge: `cleanup.purge: true` requires `cleanup.deleteSecrets: true` (only deleted secrets are purged)']);
  });

  test('unknown fields and wrong types are refused by the schema', () => {
    const unknown = issues(`${BASE}cleanup: { deleteSecret: true }\n`);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatch(/^14:12 cleanup\.deleteSecret: /);
    const wrongType = issues(`${BASE}cleanup: { deleteSecrets: "yes" }\n`);
    expect(wrongType).toHaveLength(1);
    expect(wrongType[0]).toMatch(/cleanup\.deleteSecrets: .*true or false/);
  });
});
