import { describe, expect, it } from '@jest/globals';
import { classifyVaultRequest } from '../../sandbox/azure/vault/actions.ts';

const KV = 'Microsoft.KeyVault/vaults';

describe('classifyVaultRequest', () => {
  const cases: Array<[string, string, string, string, boolean, 'create' | 'other', string | undefined]> = [
    ['GET', '/secrets/db-pass/', `${KV}/secrets/getSecret/action`, 'get', false, 'other', 'db-pass'],
    ['GET', '/secrets/db-pass/0123abcd', `${KV}/secrets/getSecret/action`, 'get', false, 'other', 'db-pass'],
    ['GET', '/secrets', `${KV}/secrets/readMetadata/action`, 'list', false, 'other', undefined],
    ['GET', '/secrets/db-pass/versions', `${KV}/secrets/readMetadata/action`, 'list', false, 'other', 'db-pass'],
    ['GET', '/deletedsecrets', `${KV}/secrets/readMetadata/action`, 'list', false, 'other', undefined],
    ['GET', '/deletedsecrets/db-pass', `${KV}/secrets/readMetadata/action`, 'list', false, 'other', 'db-pass'],
    ['PUT', '/secrets/db-pass', `${KV}/secrets/setSecret/action`, 'set', true, 'create', 'db-pass'],
    ['PATCH', '/secrets/db-pass/0123abcd', `${KV}/secrets/update/action`, 'set', true, 'other', 'db-pass'],
    ['DELETE', '/secrets/db-pass', `${KV}/secrets/delete`, 'delete', true, 'other', 'db-pass'],
    ['POST', '/deletedsecrets/db-pass/recover', `${KV}/secrets/recover/action`, 'recover', true, 'other', 'db-pass'],
    ['DELETE', '/deletedsecrets/db-pass', `${KV}/secrets/purge/action`, 'purge', true, 'other', 'db-pass'],
    ['POST', '/secrets/db-pass/backup', `${KV}/secrets/backup/action`, 'backup', false, 'other', 'db-pass'],
    ['POST', '/secrets/restore', `${KV}/secrets/restore/action`, 'restore', true, 'other', undefined],
    ['GET', '/keys/k1/', `${KV}/keys/read`, 'get', false, 'other', 'k1'],
    ['POST', '/keys/k1/create', `${KV}/keys/create/action`, 'create', true, 'create', 'k1'],
    ['POST', '/keys/k1/abc/wrapkey', `${KV}/keys/wrap/action`, 'wrapKey', false, 'other', 'k1'],
    ['GET', '/certificates/c1', `${KV}/certificates/read`, 'get', false, 'other', 'c1'],
    ['POST', '/certificates/c1/import', `${KV}/certificates/import/action`, 'import', true, 'create', 'c1'],
  ];
  it.each(cases)('%s %s', (method, path, action, permission, write, bucket, name) => {
    const o = classifyVaultRequest(method, path);
    expect(o).toBeDefined();
    expect(o?.dataAction).toBe(action);
    expect(o?.permission).toBe(permission);
    expect(o?.write).toBe(write);
    expect(o?.bucket).toBe(bucket);
    expect(o?.objectName).toBe(name);
  });

  it('keeps the version of a versioned GET and marks lifecycle operations', () => {
    expect(classifyVaultRequest('GET', '/secrets/a/v1')?.version).toBe('v1');
    expect(classifyVaultRequest('DELETE', '/secrets/a')?.lifecycle).toBe('delete');
    expect(classifyVaultRequest('POST', '/deletedsecrets/a/recover')?.lifecycle).toBe('recover');
    expect(classifyVaultRequest('DELETE', '/deletedsecrets/a')?.lifecycle).toBe('purge');
  });

  it('is case-insensitive on the collection, not on names', () => {
    expect(classifyVaultRequest('GET', '/Secrets/MyName')?.objectName).toBe('MyName');
  });

  it('refuses paths Key Vault does not serve', () => {
    expect(classifyVaultRequest('GET', '/')).toBeUndefined();
    expect(classifyVaultRequest('GET', '/healthz')).toBeUndefined();
    expect(classifyVaultRequest('POST', '/secrets')).toBeUndefined();
    expect(classifyVaultRequest('PUT', '/secrets/a/b/c')).toBeUndefined();
  });
});
