import { describe, expect, it } from '@jest/globals';
import {
  federatedCredentialName,
  grantScopes,
  READ_DATA_ACTIONS,
  roleAllows,
  unreadableObjects,
  groupIdentities,
  missingPermissions,
  planFederation,
  planGrants,
  roleAssignmentName,
  scopeCovers,
  uuidV5,
  wantedCredentials,
  wantedPermissions,
} from '../../../src/identity/plan.ts';
import type { LiveCredential, WantedCredential } from '../../../src/identity/plan.ts';
import { classifyProofError } from '../../../src/identity/prove.ts';
import { manifest, target } from '../vault/fixtures.ts';
import { MAX_FEDERATED_CREDENTIALS } from '../../../src/names.ts';

const VAULT = '/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-sandbox';
const ROLE = '/subscriptions/00000000-0000-0000-0000-00000000aaaa/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6';
const ISSUER = 'https://127.0.0.1:27643';

describe('names', () => {
  it('uuidV5 matches the RFC 4122 test vector', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('role-assignment names are deterministic GUIDs of scope + principal + role, insensitive to case and leading slash', () => {
    const a = roleAssignmentName(VAULT, 'AAAA1111-0000-0000-0000-000000000001', ROLE);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(roleAssignmentName(VAULT.slice(1).toUpperCase(), 'aaaa1111-0000-0000-0000-000000000001', ROLE.split('/').pop() ?? '')).toBe(a);
    expect(roleAssignmentName(`${VAULT}/secrets/db`, 'aaaa1111-0000-0000-0000-000000000001', ROLE)).not.toBe(a);
    expect(roleAssignmentName(VAULT, 'aaaa1111-0000-0000-0000-000000000002', ROLE)).not.toBe(a);
  });

  it('federated credential names are <cluster>-<namespace>-<sa>, sanitised and bounded', () => {
    expect(federatedCredentialName('sandbox', 'payments', 'payments-api')).toBe('sandbox-payments-payments-api');
    const odd = federatedCredentialName('my.cluster', 'ns', 'sa');
    expect(odd).toMatch(/^my-cluster-ns-sa-[0-9a-f]{8}$/);
    expect(federatedCredentialName('my:cluster', 'ns', 'sa')).not.toBe(odd);
    const long = federatedCredentialName('c'.repeat(100), 'n'.repeat(60), 's'.repeat(60));
    expect(long.length).toBeLessThanOrEqual(120);
    expect(long).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
  });

  it('scopeCovers works on path-segment boundaries', () => {
    expect(scopeCovers(VAULT, `${VAULT}/secrets/a`)).toBe(true);
    expect(scopeCovers('/subscriptions/00000000-0000-0000-0000-00000000aaaa', VAULT)).toBe(true);
    expect(scopeCovers(`${VAULT}2`, VAULT)).toBe(false);
    expect(scopeCovers(`${VAULT}/secrets/a`, VAULT)).toBe(false);
  });
});

describe('grouping and wanted credentials', () => {
  it('groups targets sharing an identity and wants one credential per service account', () => {
    const shared = { mode: 'managed' as const, name: 'id-shared', resourceGroup: 'rg-ids', location: 'westeurope' };
    const m = manifest({
      targets: [
        target('payments', { serviceAccount: 'api', identity: shared }),
        target('payments', { serviceAccount: 'worker', identity: shared }),
        target('payments', { serviceAccount: 'api', identity: shared, secretProviderClass: 'other' }),
        target('billing'),
      ],
    });
    const groups = groupIdentities(m, '00000000-0000-0000-0000-00000000aaaa');
    expect(groups.map((g) => [g.display, g.targets.length])).toEqual([
      ['id-shared', 3],
      ['id-sandbox-billing', 1],
    ]);
    const wanted = wantedCredentials(m, groups[0]!, ISSUER);
    expect(wanted.map((w) => [w.name, w.subject, w.issuer])).toEqual([
      ['sandbox-payments-api', 'system:serviceaccount:payments:api', ISSUER],
      ['sandbox-payments-worker', 'system:serviceaccount:payments:worker', ISSUER],
    ]);
    const kubelet = groupIdentities(manifest({ targets: [target('x', { serviceAccount: undefined, identity: { mode: 'kubelet', clientId: 'c1' } })] }), 's');
    expect(wantedCredentials(m, kubelet[0]!, ISSUER)).toEqual([]);
  });
});

describe('planFederation', () => {
  const w = (name: string, subject: string): WantedCredential => ({ name, issuer: ISSUER, subject, namespace: 'payments' });
  const live = (name: string, subject: string, issuer = ISSUER): LiveCredential => ({ name, issuer, subject, audiences: ['api://AzureADTokenExchange'] });

  it('diffs on issuer + subject: unchanged, update when the same name differs, create when missing', () => {
    const p = planFederation(
      'id-x',
      [live('a', 'system:serviceaccount:payments:a'), live('b', 'system:serviceaccount:payments:b', `${ISSUER}/`), live('manual', 'system:serviceaccount:payments:c')],
      [w('a', 'system:serviceaccount:payments:a'), w('b', 'system:serviceaccount:payments:b'), w('c', 'system:serviceaccount:payments:c'), w('d', 'system:serviceaccount:payments:d')],
    );
    expect(p.items.map((i) => `${i.name}:${i.action}:${i.reason ?? ''}`)).toEqual([
      'id-x/a:unchanged:',
      'id-x/b:update:issuer differs',
      'id-x/c:unchanged:already federated as manual',
      'id-x/d:create:subject system:serviceaccount:payments:d',
    ]);
    expect(p.writes.map((x) => x.name)).toEqual(['b', 'd']);
    expect(p.budgetError).toBeUndefined();
  });

  it('checks the 20-credential budget before writing', () => {
    const existing = Array.from({ length: MAX_FEDERATED_CREDENTIALS - 1 }, (_, i) => live(`e${i}`, `system:serviceaccount:other:s${i}`));
    expect(planFederation('id-x', existing, [w('n1', 'system:serviceaccount:payments:n1')]).budgetError).toBeUndefined();
    const over = planFederation('id-x', existing, [w('n1', 'system:serviceaccount:payments:n1'), w('n2', 'system:serviceaccount:payments:n2')]);
    expect(over.budgetError).toMatch(/21 federated credentials.*at most 20/);
  });
});

describe('planGrants', () => {
  const pid = 'aaaa1111-0000-0000-0000-000000000001';
  it('counts an assignment of the same role at the scope or above, for that principal only', () => {
    const wanted = [
      { scope: `${VAULT}/secrets/a`, roleDefinitionId: ROLE, roleName: 'Key Vault Secrets User' },
      { scope: `${VAULT}/secrets/b`, roleDefinitionId: ROLE, roleName: 'Key Vault Secrets User' },
      { scope: `${VAULT}/secrets/b`, roleDefinitionId: ROLE, roleName: 'Key Vault Secrets User' },
    ];
    const p = planGrants(pid, 'id-x', wanted, [
      { scope: `${VAULT}/secrets/a`, roleDefinitionId: ROLE.toUpperCase(), principalId: pid },
      { scope: VAULT, roleDefinitionId: ROLE, principalId: 'someone-else' },
    ]);
    expect(p.items.map((i) => i.action)).toEqual(['unchanged', 'create']);
    expect(p.missing.map((m) => m.scope)).toEqual([`${VAULT}/secrets/b`]);
    const covered = planGrants(pid, 'id-x', wanted, [{ scope: VAULT, roleDefinitionId: ROLE, principalId: pid }]);
    expect(covered.missing).toEqual([]);
    expect(planGrants(undefined, 'id-new', wanted, []).missing).toHaveLength(2);
  });

  it('grant scopes: the vault, or one per mounted object', () => {
    expect(grantScopes(VAULT, target('p'))).toEqual([VAULT]);
    const t = target('p', {
      access: { scope: 'secret', role: 'Key Vault Secrets User' },
      objects: [
        { secret: 'a', objectType: 'secret' },
        { secret: 'a', alias: 'A2', objectType: 'secret' },
        { secret: 'k', objectType: 'key' },
        { secret: 'tls', objectType: 'cert' },
        { secret: 'tls', alias: 'tls.pfx', objectType: 'secret' },
      ],
    });
    // A certificate is read from /certificates (GetCertificate), its private key from /secrets.
    expect(grantScopes(VAULT, t)).toEqual([`${VAULT}/secrets/a`, `${VAULT}/keys/k`, `${VAULT}/certificates/tls`, `${VAULT}/secrets/tls`]);
  });
});

describe('role coverage of what a target mounts', () => {
  // Data actions of the built-in roles, as Azure publishes them.
  const SECRETS_USER = [{ dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'] }];
  const READER = [{ dataActions: ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'] }];
  const CERT_USER = [
    {
      dataActions: [
        'Microsoft.KeyVault/vaults/certificates/read',
        'Microsoft.KeyVault/vaults/secrets/getSecret/action',
        'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
        'Microsoft.KeyVault/vaults/keys/read',
      ],
    },
  ];
  const ADMIN = [{ dataActions: ['Microsoft.KeyVault/vaults/*'] }];
  const mixed = target('p', {
    objects: [
      { secret: 'db', objectType: 'secret' },
      { secret: 'signing', objectType: 'key' },
      { secret: 'tls', objectType: 'cert' },
      { secret: 'tls', alias: 'tls.pfx', objectType: 'secret' },
    ],
  });

  it('matches data actions with Azure wildcards, case-insensitively, and subtracts notDataActions', () => {
    expect(roleAllows(READER, 'Microsoft.KeyVault/vaults/keys/read')).toBe(true);
    expect(roleAllows(READER, 'Microsoft.KeyVault/vaults/secrets/getSecret/action')).toBe(false);
    expect(roleAllows(ADMIN, 'microsoft.keyvault/VAULTS/secrets/getsecret/action')).toBe(true);
    expect(roleAllows([{ dataActions: ['Microsoft.KeyVault/vaults/*'], notDataActions: ['Microsoft.KeyVault/vaults/keys/*'] }], READ_DATA_ACTIONS.key)).toBe(false);
    expect(roleAllows([], READ_DATA_ACTIONS.secret)).toBe(false);
    // A dot in an action is not a wildcard.
    expect(roleAllows([{ dataActions: ['Microsoft.KeyVault/vaults/keys/read'] }], 'Microsoft.KeyVault/vaults/keysXread')).toBe(false);
  });

  it('names what each role leaves unreadable: Secrets User misses keys and certificates, Reader misses secret values', () => {
    expect(unreadableObjects(SECRETS_USER, mixed)).toEqual([
      { type: 'key', action: 'Microsoft.KeyVault/vaults/keys/read', objects: ['signing'] },
      { type: 'cert', action: 'Microsoft.KeyVault/vaults/certificates/read', objects: ['tls'] },
    ]);
    expect(unreadableObjects(READER, mixed)).toEqual([{ type: 'secret', action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action', objects: ['db', 'tls'] }]);
    expect(unreadableObjects(CERT_USER, mixed)).toEqual([]);
    expect(unreadableObjects(ADMIN, mixed)).toEqual([]);
    expect(unreadableObjects(SECRETS_USER, target('q', { objects: [{ secret: 'db', objectType: 'secret' }] }))).toEqual([]);
  });
});

describe('access policies', () => {
  it('asks get on secrets, and on keys/certificates only when mounted; only what is missing', () => {
    const plain = wantedPermissions([target('p', { objects: [{ secret: 'a', objectType: 'secret' }] })]);
    expect(plain).toEqual({ secrets: ['get'], keys: [], certificates: [] });
    const withCert = wantedPermissions([target('p', { objects: [{ secret: 'tls', objectType: 'cert' }] })]);
    expect(withCert).toEqual({ secrets: ['get'], keys: [], certificates: ['get'] });
    const t = 'tenant';
    expect(missingPermissions([], t, 'oid', withCert)).toEqual({ present: false, missing: withCert });
    expect(missingPermissions([{ tenantId: t, objectId: 'OID', permissions: { secrets: ['Get', 'List'] } }], t, 'oid', withCert)).toEqual({
      present: true,
      missing: { secrets: [], keys: [], certificates: ['get'] },
    });
    expect(missingPermissions([{ tenantId: t, objectId: 'oid', permissions: { secrets: ['all'], certificates: ['get'] } }], t, 'oid', withCert).missing).toEqual({
      secrets: [],
      keys: [],
      certificates: [],
    });
  });
});

describe('classifyProofError', () => {
  it('classifies Entra and vault failures by code', () => {
    expect(classifyProofError({ name: 'AuthenticationError', message: 'AADSTS70021: No matching federated identity record found' })).toBe('federation-mismatch');
    expect(classifyProofError({ statusCode: 403, code: 'Forbidden', details: { error: { code: 'Forbidden', innererror: { code: 'ForbiddenByRbac' } } } })).toBe('missing-role');
    expect(classifyProofError({ statusCode: 404, code: 'SecretNotFound' })).toBe('missing-secret');
    expect(classifyProofError({ message: "AADSTS50166: Request to External OIDC endpoint failed. Issuer: 'https://x'" })).toBe('issuer-unreachable');
    expect(classifyProofError(new Error('socket hang up'))).toBe('other');
  });
});
