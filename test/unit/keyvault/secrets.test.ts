// The REST answers of Key Vault, shaped as the SDK shapes them (what the sync, ledgers and lease read).
// Bodies as in the Key Vault REST reference (GetSecret, GetSecrets, GetDeletedSecret, 2025-07-01).
import { describe, expect, it } from '@jest/globals';
import { secretPropertiesOf } from '../../../src/keyvault/secrets.ts';

describe('secretPropertiesOf', () => {
  it('a secret bundle: name, version and vault from the id, times from Unix seconds, tags and content type', () => {
    const p = secretPropertiesOf({
      id: 'https://kv-a.vault.azure.net/secrets/db-password/4387e9f3d6e14c459867679a90fd0f79',
      value: 'never-read-here',
      contentType: 'text/plain',
      tags: { 'managed-by': 'akv-aks-action' },
      attributes: { enabled: true, nbf: 1_700_000_000, exp: 1_900_000_000, created: 1_764_000_000, updated: 1_764_000_123, recoverableDays: 90, recoveryLevel: 'Recoverable+Purgeable' },
    });
    expect(p).toEqual({
      id: 'https://kv-a.vault.azure.net/secrets/db-password/4387e9f3d6e14c459867679a90fd0f79',
      name: 'db-password',
      vaultUrl: 'https://kv-a.vault.azure.net',
      version: '4387e9f3d6e14c459867679a90fd0f79',
      enabled: true,
      notBefore: new Date(1_700_000_000_000),
      expiresOn: new Date(1_900_000_000_000),
      createdOn: new Date(1_764_000_000_000),
      updatedOn: new Date(1_764_000_123_000),
      recoverableDays: 90,
      recoveryLevel: 'Recoverable+Purgeable',
      contentType: 'text/plain',
      tags: { 'managed-by': 'akv-aks-action' },
      managed: undefined,
      certificateKeyId: undefined,
    });
    expect(JSON.stringify(p)).not.toContain('never-read-here');
  });

  it('a LIST item has no version, and absent attributes stay absent', () => {
    const p = secretPropertiesOf({ id: 'https://kv-a.vault.azure.net/secrets/api-key', attributes: { enabled: false } });
    expect(p.name).toBe('api-key');
    expect(p.version).toBeUndefined();
    expect(p.enabled).toBe(false);
    expect(p.createdOn).toBeUndefined();
    expect(p.tags).toBeUndefined();
  });
});
