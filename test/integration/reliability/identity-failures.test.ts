// Reliability suite, ARM side (identities, federated credentials, role assignments): the whole
// action (dist/index.js) under each injected failure, each scenario with its own fresh vault,
// namespace and identity. Faults are scoped by path to the scenario's identity or vault, so other
// tests sharing the sandbox never meet them; every fault is removed after its scenario.
import { expect, it, jest } from '@jest/globals';
import { armRecords, artifacts, expectExit, expectedIntact, intactState, isWriteMethod, leaks, requestRecords, runBundle, usedValues, world, type RequestRecord, type Scenario } from './helpers.ts';
import { secretValue } from '../../support/ids.ts';
import { reliabilitySuite } from './suite.ts';
import { retryUntilOk } from '../../support/wait.ts';

jest.setTimeout(4 * 60_000);

const suite = await reliabilitySuite();
const { d, restorer } = suite;

// The ARM step is under test: the proof of access has its own scenarios (auth-failures).
const INPUTS = { 'prove-access': 'false' };

const identityPath = (s: Scenario): string => `userAssignedIdentities/${s.identity}`;
const ficPath = (s: Scenario): string => `userAssignedIdentities/${s.identity}/federatedIdentityCredentials/`;
const grantPath = (s: Scenario): string => `vaults/${s.vault.name}/providers/Microsoft.Authorization/roleAssignments/`;

interface AzureState {
  identities: number;
  fics: string[];
  grants: Array<{ scope: string; role: string }>;
}

/** What ARM holds for the scenario's identity: identities by name, FIC subjects, role assignments. */
async function azureState(s: Scenario): Promise<AzureState> {
  const w = await world();
  const ids = w.identities.filter((i) => i.name === s.identity);
  const principal = ids[0]?.principalId;
  const clientId = ids[0]?.clientId;
  return {
    identities: ids.length,
    fics: w.federatedCredentials
      .filter((f) => f.identityName === s.identity || (clientId !== undefined && f.clientId === clientId))
      .map((f) => f.subject)
      .sort(),
    grants: w.roleAssignments
      .filter((r) => principal !== undefined && r.principalId === principal)
      .map((r) => ({ scope: r.scope.toLowerCase(), role: r.roleDefinitionId.split('/').pop() ?? '' }))
      .sort((a, b) => a.scope.localeCompare(b.scope)),
  };
}

const SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';

function expectedAzure(s: Scenario, sas = ['api']): AzureState {
  return {
    identities: 1,
    fics: sas.map((sa) => `system:serviceaccount:${s.ns}:${sa}`).sort(),
    grants: [{ scope: s.vault.id.toLowerCase(), role: SECRETS_USER }],
  };
}

const writes = (recs: RequestRecord[], status?: (n: number) => boolean): RequestRecord[] => recs.filter((r) => isWriteMethod(r.method) && (!status || status(r.status)));
const ok = (n: number): boolean => n >= 200 && n < 300;

d('ARM failures through the bundle', () => {
  it('ARM 429 with Retry-After on the identity write: waited out, one identity', async () => {
    const s = await suite.scenario('arm429');
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: `${identityPath(s)}\\?`,
      times: 1,
      effect: { kind: 'status', status: 429, code: 'SubscriptionRequestsThrottled', message: 'Number of write requests for subscription exceeded the limit.', retryAfterSeconds: 1 },
    });
    const r = await runBundle('arm-429', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = (await armRecords(r.mark, identityPath(s))).filter((x) => !x.path.includes('federatedIdentityCredentials'));
    expect(writes(recs).map((x) => x.status)).toEqual([429, expect.any(Number)]);
    expect(ok(writes(recs)[1]!.status)).toBe(true);
    // The retry waited for Retry-After (1 s).
    expect(writes(recs)[1]!.at - writes(recs)[0]!.at).toBeGreaterThanOrEqual(900);
    expect(await azureState(s)).toEqual(expectedAzure(s));
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('a new identity 404 just after creation (its credentials not found yet): retried, one credential', async () => {
    const s = await suite.scenario('id404');
    await restorer.worldFault({
      service: 'arm',
      method: 'GET',
      pathPattern: `${identityPath(s)}/federatedIdentityCredentials`,
      times: 2,
      effect: {
        kind: 'status',
        status: 404,
        code: 'ResourceNotFound',
        message: `The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/${s.identity}' under resource group 'rg-ids' was not found.`,
      },
    });
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: ficPath(s),
      times: 1,
      effect: {
        kind: 'status',
        status: 404,
        code: 'ResourceNotFound',
        message: `The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/${s.identity}' under resource group 'rg-ids' was not found.`,
      },
    });
    const r = await runBundle('arm-new-identity-404', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await armRecords(r.mark, ficPath(s));
    expect(writes(recs).map((x) => x.status)).toEqual([404, expect.any(Number)]);
    expect(writes(recs, ok)).toHaveLength(1);
    expect(await azureState(s)).toEqual(expectedAzure(s));
  });

  it('a concurrent federated-credential write (409) is retried; each credential written once', async () => {
    const s = await suite.scenario('fic409', { serviceAccounts: ['api', 'worker'] });
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: ficPath(s),
      times: 2,
      effect: {
        kind: 'status',
        status: 409,
        code: 'ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity',
        message: 'Too many Federated Identity Credentials are written concurrently for the managed identity. Retry the request later.',
      },
    });
    const r = await runBundle('arm-fic-409', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = writes(await armRecords(r.mark, ficPath(s)));
    expect(recs.filter((x) => x.status === 409)).toHaveLength(2);
    expect(recs.filter((x) => ok(x.status))).toHaveLength(2);
    expect(await azureState(s)).toEqual(expectedAzure(s, ['api', 'worker']));
  });

  it('PrincipalNotFound on the role assignment (principal not replicated yet): retried, one assignment', async () => {
    const s = await suite.scenario('pnf');
    await restorer.config({ principalVisibilityMs: 2_000 });
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: grantPath(s),
      times: 2,
      effect: { kind: 'status', status: 400, code: 'PrincipalNotFound', message: 'Principal 0c6a0f8a0b0d4c6f9a1e2b3c4d5e6f70 does not exist in the directory 72f988bf-86f1-41af-91ab-2d7cd011db47.' },
    });
    const r = await runBundle('arm-principal-not-found', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = writes(await armRecords(r.mark, grantPath(s)));
    expect(recs.filter((x) => x.status === 400).length).toBeGreaterThanOrEqual(2);
    expect(recs.filter((x) => ok(x.status))).toHaveLength(1);
    expect(await azureState(s)).toEqual(expectedAzure(s));
  });

  it('RoleAssignmentExists with an unfamiliar message counts as present (no retry loop, no second assignment); the next run fills the gap once', async () => {
    const s = await suite.scenario('raexists');
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: grantPath(s),
      times: 1,
      effect: { kind: 'status', status: 409, code: 'RoleAssignmentExists', message: 'Conflict (tracking id 5a1b): an equivalent grant is already present for this principal at this scope.' },
    });
    const r = await runBundle('arm-ra-exists', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    expect(writes(await armRecords(r.mark, grantPath(s))).map((x) => x.status)).toEqual([409]);
    // ARM said it exists (the fault answered in its place): the next run sees it missing and writes it once.
    const again = await runBundle('arm-ra-exists-again', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(again, 0);
    expect(writes(await armRecords(again.mark, grantPath(s))).filter((x) => ok(x.status))).toHaveLength(1);
    expect(await azureState(s)).toEqual(expectedAzure(s));
    const third = await runBundle('arm-ra-exists-third', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(third, 0);
    expect(writes(await armRecords(third.mark, grantPath(s)))).toEqual([]);
  });

  it("a read made ahead that fails (403 listing the identity's credentials) fails the identity step after the sync wrote, in ARM's words", async () => {
    const s = await suite.scenario('readahead');
    expectExit(await runBundle('read-ahead-first', { workspace: s.workspace, env: s.env, inputs: INPUTS }), 0);
    // The credentials list starts beside the secret sync (src/pipeline/run.ts readAhead).
    await restorer.worldFault({
      service: 'arm',
      method: 'GET',
      pathPattern: `${identityPath(s)}/federatedIdentityCredentials`,
      times: 1,
      effect: {
        kind: 'status',
        status: 403,
        code: 'AuthorizationFailed',
        message: `The client does not have authorization to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read' over scope '${identityPath(s)}' or the scope is invalid.`,
      },
    });
    s.env.V_0 = secretValue('readahead-changed');
    usedValues.set(`${s.names[0]!} (changed)`, s.env.V_0);
    const r = await runBundle('read-ahead-403', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 1);
    expect(r.report?.error ?? '').toMatch(/AuthorizationFailed|federatedIdentityCredentials\/read/);
    expect(r.log).not.toMatch(/unhandled|UnhandledPromiseRejection/i);
    // The failure surfaced where the identity step awaits the list: the sync had written the new value.
    const [changed, ...rest] = await intactState(s);
    expect(changed).toEqual({ name: s.names[0], versions: 2, valueMatches: true });
    expect(rest).toEqual(expectedIntact(s).slice(1));
    expect(writes(await armRecords(r.mark, identityPath(s)))).toEqual([]);
    expect(await azureState(s)).toEqual(expectedAzure(s));
  });

  it('RoleAssignmentLimitExceeded fails precisely, with no retry loop and nothing half-granted', async () => {
    const s = await suite.scenario('ralimit');
    await restorer.worldFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: grantPath(s),
      times: 10,
      effect: {
        kind: 'status',
        status: 400,
        code: 'RoleAssignmentLimitExceeded',
        message: 'No more role assignments can be created for subscription 00000000-0000-0000-0000-00000000aaaa (limit 4000).',
      },
    });
    const r = await runBundle('arm-ra-limit', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 1);
    const error = r.report?.error ?? '';
    expect(error).toMatch(/RoleAssignmentLimitExceeded|role assignments/i);
    expect(error).toMatch(new RegExp(`${s.identity}|${s.vault.name}`));
    expect(writes(await armRecords(r.mark, grantPath(s))).map((x) => x.status)).toEqual([400]);
    expect((await azureState(s)).grants).toEqual([]);
    // Secrets were synced before the failure and stay intact.
    expect(await intactState(s)).toEqual(expectedIntact(s));
    await restorer.restore();
    const again = await runBundle('arm-ra-limit-again', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(again, 0);
    expect(await azureState(s)).toEqual(expectedAzure(s));
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('21 service accounts on one identity in the manifest: rejected before any request', async () => {
    const sas = Array.from({ length: 21 }, (_, i) => `sa${i}`);
    const s = await suite.scenario('fic21', { serviceAccounts: sas });
    const r = await runBundle('arm-fic-21-manifest', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 1);
    const error = r.report?.error ?? '';
    expect(error).toContain(s.identity);
    expect(error).toMatch(/at most 20/);
    expect(error).toMatch(/targets\[20\]/);
    expect(writes(await armRecords(r.mark, s.identity))).toEqual([]);
    expect((await requestRecords()).filter((x) => x.seq >= r.mark && x.path.includes(`r${s.id}-`))).toEqual([]);
  });

  it('a 21st federated credential on an identity that already holds 19: fails precisely before any credential write', async () => {
    const s = await suite.scenario('fic21b', { serviceAccounts: ['api', 'worker'] });
    // The identity exists already, federated 19 times for other clusters (as a shared identity would be).
    await suite.az.arm.msi.userAssignedIdentities.createOrUpdate('rg-ids', s.identity, { location: 'westeurope' });
    for (let i = 0; i < 19; i++) {
      // A write ARM refuses for a moment is retried, within a bounded time.
      await retryUntilOk(
        () =>
          suite.az.arm.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', s.identity, `other-${i}`, {
            issuer: `https://oidc.example.test/cluster-${i}/`,
            subject: 'system:serviceaccount:other:app',
            audiences: ['api://AzureADTokenExchange'],
          }),
        5_000,
        100,
      );
    }
    const r = await runBundle('arm-fic-21-live', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 1);
    const error = r.report?.error ?? '';
    expect(error).toContain(s.identity);
    expect(error).toMatch(/21 federated credentials/);
    expect(error).toMatch(/at most 20/);
    // (The set-up's own writes, other-N, can be stamped a moment after they were answered.)
    expect(writes(await armRecords(r.mark, ficPath(s))).filter((x) => !x.path.includes('/federatedIdentityCredentials/other-'))).toEqual([]);
    expect((await azureState(s)).fics.filter((f) => f.includes(s.ns))).toEqual([]);
  });

  it('answers lost after ARM applied the writes (identity, credential, role assignment): the re-sent PUTs change nothing, one of each', async () => {
    const s = await suite.scenario('armlost');
    for (const path of [`${identityPath(s)}\\?`, ficPath(s), grantPath(s)])
      await restorer.worldFault({ service: 'arm', method: 'PUT', pathPattern: path, times: 1, effect: { kind: 'drop-response' } });
    const r = await runBundle('arm-lost', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = [...(await armRecords(r.mark, identityPath(s))), ...(await armRecords(r.mark, grantPath(s)))];
    // Each of the three was applied, its answer dropped, and the SDK's re-send answered normally.
    expect(recs.filter((x) => x.dropped).length).toBe(3);
    expect(recs.filter((x) => x.dropped).every((x) => recs.some((y) => y.path === x.path && y.seq > x.seq && !y.dropped && ok(y.status)))).toBe(true);
    expect(await azureState(s)).toEqual(expectedAzure(s));
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('connection resets on ARM (identity write, vault read): retried, one identity, one assignment', async () => {
    const s = await suite.scenario('armreset');
    await restorer.worldFault({ service: 'arm', method: 'PUT', pathPattern: `${identityPath(s)}\\?`, times: 1, effect: { kind: 'reset' } });
    await restorer.worldFault({ service: 'arm', method: 'GET', pathPattern: `vaults/${s.vault.name}\\?`, times: 1, effect: { kind: 'reset' } });
    const r = await runBundle('arm-reset', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = (await armRecords(r.mark, identityPath(s))).filter((x) => !x.path.includes('federatedIdentityCredentials'));
    expect(writes(recs).map((x) => x.status)).toEqual([0, expect.any(Number)]);
    expect(await azureState(s)).toEqual(expectedAzure(s));
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });
});

d('leak scan (this file)', () => {
  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
