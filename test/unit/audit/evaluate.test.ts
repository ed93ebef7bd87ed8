// The audit's pure evaluation: a converged set of facts gives no finding, and each kind of drift or
// expiry, injected into those facts one at a time, gives exactly its finding (fakes only, no I/O).
import { beforeEach, describe, expect, test } from '@jest/globals';
import { evaluateAudit, driftPaths, moreThanRead } from '../../../src/audit/evaluate.ts';
import type { AuditFacts } from '../../../src/audit/evaluate.ts';
import { auditSection, failing } from '../../../src/audit/model.ts';
import type { Finding } from '../../../src/audit/model.ts';
import type { IdentityFound } from '../../../src/cleanup/plan.ts';
import { groupIdentities, roleAssignmentName, wantedCredentials } from '../../../src/identity/plan.ts';
import { credentialRecord, identityRecord, normalizeLedger } from '../../../src/ledger/model.ts';
import { parseManifest } from '../../../src/manifest/load.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { renderAll } from '../../../src/render/index.ts';
import { indexVersions } from '../../../src/rotate/decide.ts';
import { ACTION_NAME as OWNER, OWNER_TAG as TAG_OWNER, TAG_INSTANCE } from '../../../src/names.ts';
import type { LiveSecret } from '../../../src/keyvault/model.ts';
import { entryFor } from '../../../src/vault/versions.ts';

const SUB = '00000000-0000-0000-0000-00000000aaaa';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-app/providers/Microsoft.KeyVault/vaults/kv-app`;
const USER_GUID = '4633458b-17de-408a-b874-0445c86b69e6';
const OFFICER_GUID = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
const roleId = (guid: string): string => `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
const ISSUER = 'https://oidc.example/issuer/';
const PID = 'aaaaaaaa-0000-0000-0000-000000000001';
const CID = 'cccccccc-0000-0000-0000-000000000001';
const NOW = new Date('2026-12-02T12:00:00Z');
const DAY = 86_400_000;

const TEXT = `apiVersion: akv-aks/v1
vault: { name: kv-app, resourceGroup: rg-app }
cluster: { name: c1 }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
audit: { expiryWarning: 14d }
secrets:
  - name: db-password
    from: { env: DB_PASSWORD }
  - name: api-key
    generate: { rotateAfter: 30d }
  - name: tls-cert
    existing: { objectType: cert }
targets:
  - namespace: payments
    serviceAccount: api
    secretProviderClass: payments-secrets
    objects:
      - { secret: db-password }
      - { secret: api-key }
`;

let manifest: Manifest;
let facts: AuditFacts;

function live(name: string, over: Partial<LiveSecret> = {}): LiveSecret {
  return { name, enabled: true, tags: { [TAG_OWNER]: OWNER, [TAG_INSTANCE]: manifest.instance.key }, createdOn: new Date(NOW.getTime() - DAY), updatedOn: new Date(NOW.getTime() - DAY), ...over };
}

function identity(): IdentityFound {
  const g = groupIdentities(manifest, SUB)[0]!;
  const credentials = wantedCredentials(manifest, g, ISSUER).map((w) => ({ name: w.name, issuer: w.issuer, subject: w.subject, audiences: ['api://AzureADTokenExchange'] }));
  const assignment = { name: roleAssignmentName(VAULT_ID, PID, roleId(USER_GUID)), scope: VAULT_ID, roleDefinitionId: roleId(USER_GUID), principalId: PID };
  return { ...g, exists: true, subscriptionId: SUB, principalId: PID, clientId: CID, credentials, roleAssignments: [assignment] };
}

function converged(): AuditFacts {
  const secrets = new Map<string, LiveSecret>();
  for (const name of ['db-password', 'api-key']) secrets.set(name, live(name));
  secrets.set('tls-cert', live('tls-cert', { tags: {}, managed: true, expiresOn: new Date(NOW.getTime() + 200 * DAY) }));
  const index = new Map([...secrets].filter(([k]) => k !== 'tls-cert').map(([k, l]) => [k, entryFor(`v-${k}`, l)!]));
  const id = identity();
  const record = identityRecord(SUB, 'rg-ids', id.spec.mode === 'managed' ? id.spec.name : '');
  const ledger = normalizeLedger({
    instance: manifest.instance.key,
    manifest: 'm',
    assignments: id.roleAssignments.map((a) => a.name),
    policies: {},
    added: {},
    identities: [record],
    credentials: id.credentials.map((c) => credentialRecord(record, c.name)),
  });
  const desired = renderAll(manifest, { tenantId: TENANT, clientIds: { payments: CID } }).filter((o) => o.kind !== 'Namespace');
  const target = manifest.targets[0]!;
  const mounted = new Map([
    [
      target.secretProviderClass,
      new Map([
        ['secret/db-password', 'v-db-password'],
        ['secret/api-key', 'v-api-key'],
      ]),
    ],
  ]);
  return {
    now: NOW,
    secrets: { live: secrets, index },
    versions: indexVersions([
      { name: 'db-password', version: 'v-db-password', changed: false },
      { name: 'api-key', version: 'v-api-key', changed: false },
    ]),
    azure: {
      vault: { id: VAULT_ID, name: 'kv-app', rbac: true, tenantId: TENANT },
      subscriptionId: SUB,
      issuer: ISSUER,
      identities: [id],
      roles: {
        byGuid: new Map([
          [
            USER_GUID,
            { name: 'Key Vault Secrets User', permissions: [{ dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'] }] },
          ],
          [OFFICER_GUID, { name: 'Key Vault Secrets Officer', permissions: [{ dataActions: ['Microsoft.KeyVault/vaults/secrets/*'] }] }],
        ]),
        idByName: new Map([['key vault secrets user', roleId(USER_GUID)]]),
      },
      ledger,
      stillExisting: new Set(),
    },
    kube: {
      desired,
      live: new Map(desired.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, structuredClone(o) as Record<string, unknown>])),
      workloads: [
        {
          ref: { kind: 'Deployment', namespace: 'payments', name: 'web' },
          consumed: [{ target, ways: ['csi'], objects: target.objects, subPathMounts: [], missingKeys: [] }],
          pods: [{ name: 'web-1', mounted }],
        },
      ],
    },
  };
}

const kinds = (fs: Finding[]): string[] => fs.map((f) => `${f.kind} ${f.object}`);

/** Changes a secret as the action itself would have written it (its index entry follows). */
function written(name: string, over: Partial<LiveSecret>): void {
  const l = Object.assign(facts.secrets.live.get(name)!, over);
  facts.secrets.index!.set(name, entryFor(`v-${name}`, l)!);
}
const run = (): Finding[] => evaluateAudit(manifest, facts);

beforeEach(() => {
  manifest = parseManifest(TEXT, 'm.yaml', { repository: 'contoso/app' }).manifest;
  facts = converged();
});

describe('audit evaluation', () => {
  test('a converged deployment gives no finding', () => {
    expect(run()).toEqual([]);
  });

  test('secret missing', () => {
    facts.secrets.live.delete('db-password');
    expect(kinds(run())).toEqual(['secret-missing db-password']);
  });

  test('an existing key the keys API does not find', () => {
    manifest = parseManifest(TEXT.replace('secrets:\n', 'secrets:\n  - name: signing\n    existing: { objectType: key }\n'), 'm.yaml', { repository: 'contoso/app' }).manifest;
    expect(run()).toEqual([]);
    facts.secrets.missingKeys = new Set(['signing']);
    expect(kinds(run())).toEqual(['secret-missing signing']);
  });

  test('secret disabled', () => {
    written('api-key', { enabled: false });
    expect(kinds(run())).toEqual(['secret-disabled api-key']);
  });

  test('secret expired, and expiring within audit.expiryWarning (14d here), not beyond', () => {
    written('db-password', { expiresOn: new Date(NOW.getTime() - 1_000) });
    facts.secrets.live.get('tls-cert')!.expiresOn = new Date(NOW.getTime() + 10 * DAY);
    const found = run();
    expect(kinds(found)).toEqual(['secret-expired db-password', 'secret-expiring tls-cert']);
    expect(found[1]!.message).toContain('in 10 days');
    facts.secrets.live.get('tls-cert')!.expiresOn = new Date(NOW.getTime() + 15 * DAY);
    expect(kinds(run())).toEqual(['secret-expired db-password']);
  });

  test('the expiry warning defaults to 30 days', () => {
    delete manifest.audit;
    facts.secrets.live.get('tls-cert')!.expiresOn = new Date(NOW.getTime() + 29 * DAY);
    expect(kinds(run())).toEqual(['secret-expiring tls-cert']);
  });

  test('secret changed outside the action: a version without the owner tag', () => {
    facts.secrets.live.set('db-password', live('db-password', { tags: {} }));
    expect(kinds(run())).toEqual(['secret-changed-outside db-password']);
  });

  test('secret changed outside the action: properties or version no longer what the index recorded', () => {
    facts.secrets.live.get('db-password')!.updatedOn = new Date(NOW.getTime() - 1_000);
    expect(kinds(run())).toEqual(['secret-changed-outside db-password']);
    // Another manifest writing a shared secret is the action, not the outside.
    facts.secrets.live.get('db-password')!.tags[TAG_INSTANCE] = '0123456789abcdef';
    expect(run()).toEqual([]);
  });

  test('generated secret overdue for rotation', () => {
    written('api-key', { createdOn: new Date(NOW.getTime() - 31 * DAY) });
    expect(kinds(run())).toEqual(['rotation-overdue api-key']);
  });

  test('SecretProviderClass and ServiceAccount differ from the render (or are missing)', () => {
    const spc = facts.kube!.live.get('SecretProviderClass/payments/payments-secrets')!;
    (spc.spec as { parameters: Record<string, string> }).parameters.clientID = 'someone-else';
    facts.kube!.live.delete('ServiceAccount/payments/api');
    const found = run();
    expect(kinds(found)).toEqual(['service-account-drift payments/api', 'secret-provider-class-drift payments/payments-secrets']);
    expect(found[0]!.message).toContain('missing');
    expect(found[1]!.message).toContain('at spec');
  });

  test('driftPaths names annotations and fields, never their values', () => {
    const d = facts.kube!.desired.find((o) => o.kind === 'ServiceAccount')!;
    const l = structuredClone(d) as Record<string, unknown> & { metadata: { annotations: Record<string, string> } };
    l.metadata.annotations['azure.workload.identity/client-id'] = 'x';
    expect(driftPaths(d, l)).toEqual(['metadata.annotations[azure.workload.identity/client-id]']);
  });

  test('identity missing', () => {
    facts.azure!.identities[0]!.exists = false;
    expect(kinds(run())).toEqual([`identity-missing id-c1-payments`]);
  });

  test('federated credential missing or different', () => {
    const creds = facts.azure!.identities[0]!.credentials;
    creds[0]!.issuer = 'https://other/';
    expect(run().map((f) => f.kind)).toEqual(['credential-missing']);
    creds.length = 0;
    expect(run()[0]!.message).toContain('no federated credential for subject system:serviceaccount:payments:api');
  });

  test('identity and credential recorded by the ledger, no longer declared, still existing', () => {
    const gone = identityRecord(SUB, 'rg-ids', 'id-c1-old');
    const goneCred = credentialRecord(gone, 'c1-old-api');
    facts.azure!.ledger = normalizeLedger({ ...facts.azure!.ledger!, identities: [...facts.azure!.ledger!.identities!, gone], credentials: [...facts.azure!.ledger!.credentials!, goneCred] });
    expect(run()).toEqual([]); // recorded but gone: nothing to report
    facts.azure!.stillExisting = new Set([gone, goneCred]);
    expect(run().map((f) => `${f.kind} ${f.object}`)).toEqual(['identity-extra id-c1-old', 'credential-extra id-c1-old/federatedidentitycredentials/c1-old-api']);
  });

  test('grant missing', () => {
    facts.azure!.identities[0]!.roleAssignments = [];
    expect(run().map((f) => f.kind)).toEqual(['grant-missing']);
  });

  test('grant extra: an assignment the ledger records that the manifest no longer asks for', () => {
    const scope = `${VAULT_ID}/secrets/old`;
    const extra = { name: roleAssignmentName(scope, PID, roleId(USER_GUID)), scope, roleDefinitionId: roleId(USER_GUID), principalId: PID };
    facts.azure!.identities[0]!.roleAssignments.push(extra);
    expect(run()).toEqual([]); // not recorded: someone else's, and narrower than asked
    facts.azure!.ledger = normalizeLedger({ ...facts.azure!.ledger!, assignments: [...facts.azure!.ledger!.assignments, extra.name] });
    expect(kinds(run())).toEqual(['grant-extra Key Vault Secrets User for id-c1-payments at vaults/kv-app/secrets/old']);
  });

  test('grant wider than asked: vault scope when objects are declared, or a role that writes', () => {
    manifest.targets[0]!.access.scope = 'secret';
    // Recorded by this manifest's ledger (its former vault-scope grant): extra.
    expect(run().map((f) => f.kind)).toEqual(['grant-extra']);
    // Made by someone else: wider than asked (it covers the declared objects, so none is missing).
    facts.azure!.ledger = normalizeLedger({ ...facts.azure!.ledger!, assignments: [] });
    const found = run();
    expect(found.map((f) => f.kind)).toEqual(['grant-too-wide']);
    expect(found[0]!.message).toContain('granted at vaults/kv-app, wider than the manifest asks (vaults/kv-app/secrets/db-password, vaults/kv-app/secrets/api-key)');
    manifest.targets[0]!.access.scope = 'vault';
    const rg = `/subscriptions/${SUB}/resourceGroups/rg-app`;
    facts.azure!.identities[0]!.roleAssignments.push({ name: 'x', scope: rg, roleDefinitionId: roleId(OFFICER_GUID), principalId: PID });
    const wide = run();
    expect(wide.map((f) => f.kind)).toEqual(['grant-too-wide', 'grant-too-wide']);
    expect(wide[1]!.message).toContain('allows more than reading: Microsoft.KeyVault/vaults/secrets/*');
  });

  test('access policies: missing get, and more than get', () => {
    const az = facts.azure!;
    az.vault = { ...az.vault, rbac: false, accessPolicies: [{ tenantId: TENANT, objectId: PID, permissions: { secrets: ['list'] } }] };
    expect(run().map((f) => `${f.kind}: ${f.message}`)).toEqual(['grant-missing: access policy lacks secrets: get', 'grant-too-wide: access policy grants more than the manifest asks: secrets: list']);
  });

  test("pod still on an older version than the vault's", () => {
    facts.versions = indexVersions([
      { name: 'db-password', version: 'v-db-2', changed: false },
      { name: 'api-key', version: 'v-api-key', changed: false },
    ]);
    const found = run();
    expect(kinds(found)).toEqual(['pod-stale payments/web-1']);
    expect(found[0]!.message).toContain('db-password');
    expect(found[0]!.fix).toContain('mode: apply');
  });

  test('subPath mount that can never rotate (rotation csi), not with rotation restart', () => {
    const c = facts.kube!.workloads[0]!.consumed[0]!;
    c.subPathMounts = ['app: secrets'];
    expect(run()).toEqual([]);
    c.target.rotation = 'csi';
    expect(kinds(run())).toEqual(['subpath-mount Deployment payments/web']);
  });

  test('moreThanRead: reads pass, writes and wildcards do not', () => {
    expect(
      moreThanRead([{ dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'], actions: ['Microsoft.KeyVault/vaults/read'] }]),
    ).toEqual([]);
    expect(moreThanRead([{ actions: ['*'] }])).toEqual(['*']);
  });
});

describe('fail-on', () => {
  const drift: Finding = { kind: 'pod-stale', object: 'a/b', message: 'm', fix: 'f' };
  const expiry: Finding = { kind: 'secret-expiring', object: 's', message: 'm', fix: 'f' };
  test.each([
    ['never', []],
    ['drift', [drift]],
    ['expiry', [expiry]],
    ['any', [drift, expiry]],
  ] as const)('%s', (failOn, want) => {
    expect(failing([drift, expiry], failOn)).toEqual(want);
    expect(auditSection('k', NOW, [drift, expiry], failOn, []).failed).toBe(want.length > 0);
  });
});
