// The CSI driver + Azure provider stand-in against fake Kubernetes/Entra/Key Vault answers:
// the mount flow, the error texts (driver, provider, azcore, azidentity) and secretObjects data.
import { describe, expect, it } from '@jest/globals';
import { azcoreResponseError, failedMountMessage, mountVolume, parseObjects, secretObjectData, type MountDeps, type PodRef, type SecretProviderClassLike } from '../../sandbox/kube/csi.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const POD: PodRef = { name: 'web-1', namespace: 'apps', uid: 'uid-1', serviceAccountName: 'workload-sa' };
const SECRET_VALUE = 's3cr3t-value-do-not-leak';

function spc(params: Record<string, string>, extra: Partial<NonNullable<SecretProviderClassLike['spec']>> = {}): SecretProviderClassLike {
  return { metadata: { name: 'app-secrets', namespace: 'apps' }, spec: { provider: 'azure', parameters: params, ...extra } };
}

const OBJECTS = `array:
  - |
    objectName: db-password
    objectType: secret
  - |
    objectName: api-key
    objectAlias: api
    objectType: secret
    objectVersion: ""
`;

interface FakeWorld {
  tokenStatus?: number;
  tokenBody?: unknown;
  secrets: Record<string, { status: number; body: unknown }>;
  calls: string[];
  tokenForms: URLSearchParams[];
}

function deps(
  world: FakeWorld,
  over: Partial<MountDeps> = {},
  theSpc: SecretProviderClassLike | null = spc({ clientID: 'cid', keyvaultName: 'kv-sandbox', tenantId: TENANT, objects: OBJECTS }),
): MountDeps {
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    world.calls.push(`${init?.method ?? 'GET'} ${url}`);
    if (url.endsWith('/v2.0/.well-known/openid-configuration')) {
      return new Response(JSON.stringify({ token_endpoint: `https://127.0.0.1:27011/${TENANT}/oauth2/v2.0/token` }), { status: 200 });
    }
    if (url.includes('/oauth2/v2.0/token')) {
      world.tokenForms.push(new URLSearchParams(String(init?.body)));
      const status = world.tokenStatus ?? 200;
      return new Response(JSON.stringify(world.tokenBody ?? { token_type: 'Bearer', access_token: 'kv-token', expires_in: 3600 }), {
        status,
        statusText: status === 200 ? 'OK' : status === 400 ? 'Bad Request' : 'Unauthorized',
      });
    }
    const m = /\/secrets\/([^/]+)\//.exec(new URL(url).pathname);
    const answer = m ? world.secrets[m[1]!] : undefined;
    if (!answer) return new Response('', { status: 404, statusText: 'Not Found' });
    const statusText = answer.status === 200 ? 'OK' : answer.status === 403 ? 'Forbidden' : 'Not Found';
    return new Response(JSON.stringify(answer.body), { status: answer.status, statusText });
  }) as typeof fetch;
  return {
    getSecretProviderClass: async () => theSpc ?? undefined,
    tokenAudiences: async () => ['api://AzureADTokenExchange'],
    serviceAccountToken: async (pod, aud) => `sa-token-for-${pod.name}-${aud}`,
    nodePublishSecret: async () => undefined,
    vaultUri: (name) => (name === 'kv-sandbox' ? 'https://127.0.0.1:27100/' : undefined),
    authorityHost: 'https://127.0.0.1:27011',
    managedIdentityToken: async () => ({ ok: true, token: 'mi-token' }),
    fetch: fakeFetch,
    ...over,
  };
}

function okSecret(name: string, version: string) {
  return { status: 200, body: { value: SECRET_VALUE, id: `https://127.0.0.1:27100/secrets/${name}/${version}`, attributes: { enabled: true } } };
}

const VOLUME = { name: 'secrets-store01-inline', readOnly: true, volumeAttributes: { secretProviderClass: 'app-secrets' } };

describe('mountVolume (workload identity)', () => {
  it('exchanges the pod token and returns every object version, sorted by id', async () => {
    const world: FakeWorld = { secrets: { 'db-password': okSecret('db-password', 'v1abc'), 'api-key': okSecret('api-key', 'v2def') }, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world), POD, VOLUME);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.objects).toEqual([
      { id: 'secret/api-key', version: 'v2def' },
      { id: 'secret/db-password', version: 'v1abc' },
    ]);
    expect(out.files.get('api')?.toString()).toBe(SECRET_VALUE);
    expect(out.files.get('db-password')?.toString()).toBe(SECRET_VALUE);
    const form = world.tokenForms[0]!;
    expect(form.get('client_id')).toBe('cid');
    expect(form.get('client_assertion')).toBe('sa-token-for-web-1-api://AzureADTokenExchange');
    expect(form.get('scope')).toBe('https://vault.azure.net/.default');
    expect(world.calls.filter((c) => c.includes('/secrets/'))).toHaveLength(2);
  });

  it('reports AADSTS70021 in the provider format and never the secret value', async () => {
    const world: FakeWorld = {
      tokenStatus: 400,
      tokenBody: {
        error: 'invalid_request',
        error_description: "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Subject: 'system:serviceaccount:apps:other'.",
      },
      secrets: { 'db-password': okSecret('db-password', 'v1'), 'api-key': okSecret('api-key', 'v2') },
      calls: [],
      tokenForms: [],
    };
    const out = await mountVolume(deps(world), POD, VOLUME);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(
      out.message.startsWith(
        'MountVolume.SetUp failed for volume "secrets-store01-inline" : rpc error: code = Unknown desc = failed to mount secrets store objects for pod apps/web-1, err: rpc error: code = Unknown desc = failed to mount objects, error: failed to get objectType:secret, objectName:db-password, objectVersion:: ClientAssertionCredential authentication failed.',
      ),
    ).toBe(true);
    expect(out.message).toContain('AADSTS70021');
    expect(out.message).toContain('RESPONSE 400: 400 Bad Request');
    expect(out.message).not.toContain(SECRET_VALUE);
    expect(world.calls.filter((c) => c.includes('/secrets/'))).toHaveLength(0);
  });

  it('fails the whole volume when one object is forbidden (ForbiddenByRbac)', async () => {
    const forbidden = { status: 403, body: { error: { code: 'Forbidden', message: 'Caller is not authorized to perform action on resource.', innererror: { code: 'ForbiddenByRbac' } } } };
    const world: FakeWorld = { secrets: { 'db-password': forbidden, 'api-key': okSecret('api-key', 'v2') }, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world), POD, VOLUME);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.message).toContain('objectName:db-password');
    expect(out.message).toContain('RESPONSE 403: 403 Forbidden\nERROR CODE: Forbidden');
    expect(out.message).toContain('ForbiddenByRbac');
    expect(out.message).not.toContain(SECRET_VALUE);
  });

  it('reports SecretNotFound as the azcore error code', async () => {
    const missing = { status: 404, body: { error: { code: 'SecretNotFound', message: 'A secret with (name/id) db-password was not found in this key vault.' } } };
    const world: FakeWorld = { secrets: { 'db-password': missing, 'api-key': okSecret('api-key', 'v2') }, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world), POD, VOLUME);
    expect(!out.ok && out.message).toContain('ERROR CODE: SecretNotFound');
  });

  it('names a missing SecretProviderClass the way the driver does', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world, {}, null), POD, VOLUME);
    expect(!out.ok && out.message).toBe(
      'MountVolume.SetUp failed for volume "secrets-store01-inline" : rpc error: code = Unknown desc = failed to get secretproviderclass apps/app-secrets, error: secretproviderclasses.secrets-store.csi.x-k8s.io "app-secrets" not found',
    );
  });

  it('needs the CSIDriver token request for workload identity', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world, { tokenAudiences: async () => [] }), POD, VOLUME);
    expect(!out.ok && out.message).toContain('failed to build auth config for mode None: failed to parse workload identity tokens, error: service account tokens not found');
  });

  it('rejects a volume that is not read-only', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world), POD, { ...VOLUME, readOnly: false });
    expect(!out.ok && out.message).toContain('rpc error: code = InvalidArgument desc = Readonly is not true in request');
  });

  it('fails on an unknown vault with a DNS error, as outside Azure', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const d = deps(world, {}, spc({ clientID: 'cid', keyvaultName: 'kv-nowhere', tenantId: TENANT, objects: OBJECTS }));
    const out = await mountVolume(d, POD, VOLUME);
    expect(!out.ok && out.message).toContain('lookup kv-nowhere.vault.azure.net: no such host');
  });

  it('uses the managed identity source for useVMManagedIdentity', async () => {
    const world: FakeWorld = { secrets: { 'db-password': okSecret('db-password', 'v1'), 'api-key': okSecret('api-key', 'v2') }, calls: [], tokenForms: [] };
    const asked: Array<string | undefined> = [];
    const d = deps(
      world,
      {
        managedIdentityToken: async (clientId) => {
          asked.push(clientId);
          return { ok: true, token: 'mi' };
        },
      },
      spc({ useVMManagedIdentity: 'true', userAssignedIdentityID: 'kubelet-id', keyvaultName: 'kv-sandbox', tenantId: TENANT, objects: OBJECTS }),
    );
    const out = await mountVolume(d, POD, VOLUME);
    expect(out.ok).toBe(true);
    expect(asked).toEqual(['kubelet-id']);
    expect(world.tokenForms).toHaveLength(0);
  });

  it('reports an unreachable Entra as a Go transport error', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED 127.0.0.1:27011') });
    }) as typeof fetch;
    const out = await mountVolume(deps(world, { fetch: refused }), POD, VOLUME);
    expect(!out.ok && out.message).toContain(
      `objectName:db-password, objectVersion:: ClientAssertionCredential: Get "https://127.0.0.1:27011/${TENANT}/v2.0/.well-known/openid-configuration": connect ECONNREFUSED 127.0.0.1:27011`,
    );
  });

  it('without clientID or nodePublishSecretRef there is no identity', async () => {
    const world: FakeWorld = { secrets: {}, calls: [], tokenForms: [] };
    const out = await mountVolume(deps(world, {}, spc({ keyvaultName: 'kv-sandbox', tenantId: TENANT, objects: OBJECTS })), POD, VOLUME);
    expect(!out.ok && out.message).toContain('failed to get credentials, nodePublishSecretRef secret is not set');
  });
});

describe('texts and parsing', () => {
  it('azcoreResponseError prefers x-ms-error-code and indents the body', () => {
    const text = azcoreResponseError({
      method: 'GET',
      url: 'https://h:1/secrets/a/?api-version=7.6',
      status: 403,
      statusText: 'Forbidden',
      body: '{"error":{"code":"Forbidden"}}',
      errorCodeHeader: 'Throttled',
    });
    expect(text.split('\n').slice(0, 4)).toEqual(['GET https://h:1/secrets/a/', '-'.repeat(80), 'RESPONSE 403: 403 Forbidden', 'ERROR CODE: Throttled']);
    expect(text).toContain('{\n  "error": {\n    "code": "Forbidden"\n  }\n}');
  });

  it('failedMountMessage follows the kubelet wording', () => {
    expect(failedMountMessage('v', 'boom')).toBe('MountVolume.SetUp failed for volume "v" : boom');
  });

  it('parseObjects reads aliases and rejects unsafe file names', () => {
    expect(parseObjects(OBJECTS).map((o) => [o.objectName, o.objectAlias ?? null])).toEqual([
      ['db-password', null],
      ['api-key', 'api'],
    ]);
    expect(() => parseObjects('array:\n  - |\n    objectName: x\n    objectAlias: ../etc\n    objectType: secret\n')).toThrow("file name must not contain '..'");
  });

  it('parseObjects validates objectFormat/objectEncoding as the provider does', () => {
    const one = (extra: string, type = 'secret') => `array:\n  - |\n    objectName: x\n    objectType: ${type}\n${extra ? `    ${extra}\n` : ''}`;
    expect(() => parseObjects(one('objectFormat: der'))).toThrow('failed to get objectType:secret, objectName:x, objectVersion:: invalid objectFormat: der, should be PEM or PFX');
    expect(() => parseObjects(one('objectFormat: pfx', 'cert'))).toThrow('PFX format only supported for objectType: secret');
    expect(() => parseObjects(one('objectEncoding: base64', 'key'))).toThrow('objectEncoding only supported for objectType: secret');
    expect(() => parseObjects(one('objectEncoding: rot13'))).toThrow('invalid objectEncoding: rot13, should be hex, base64 or utf-8');
    expect(parseObjects(one('objectEncoding: Base64'))[0]!.objectEncoding).toBe('Base64');
  });

  it('decodes base64/hex-encoded secrets into the file content', async () => {
    const world: FakeWorld = {
      secrets: {
        b64: { status: 200, body: { value: Buffer.from('plain-b64').toString('base64'), id: 'https://v/secrets/b64/1' } },
        hex: { status: 200, body: { value: Buffer.from('plain-hex').toString('hex'), id: 'https://v/secrets/hex/2' } },
      },
      calls: [],
      tokenForms: [],
    };
    const objects = 'array:\n  - |\n    objectName: b64\n    objectType: secret\n    objectEncoding: base64\n  - |\n    objectName: hex\n    objectType: secret\n    objectEncoding: hex\n';
    const out = await mountVolume(deps(world, {}, spc({ clientID: 'cid', keyvaultName: 'kv-sandbox', tenantId: TENANT, objects })), POD, VOLUME);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.files.get('b64')?.toString()).toBe('plain-b64');
    expect(out.files.get('hex')?.toString()).toBe('plain-hex');
    expect(out.objects).toEqual([
      { id: 'secret/b64', version: '1' },
      { id: 'secret/hex', version: '2' },
    ]);
  });

  it('secretObjectData maps files to keys and names a missing object', () => {
    const files = new Map([['db-password', Buffer.from('pw')]]);
    expect(secretObjectData({ secretName: 's', type: 'Opaque', data: [{ objectName: 'db-password', key: 'k' }] }, files)).toEqual({ ok: true, data: { k: Buffer.from('pw').toString('base64') } });
    expect(secretObjectData({ secretName: 's', type: 'Opaque', data: [{ objectName: 'nope', key: 'k' }] }, files)).toEqual({ ok: false, error: 'file matching objectName nope not found in the pod' });
  });
});

describe('useAzureTokenProxy (identity bindings)', () => {
  const proxySpc = (params: Record<string, string> = {}): SecretProviderClassLike =>
    spc({ useAzureTokenProxy: 'true', clientID: 'cid', tenantID: TENANT, keyvaultName: 'kv-sandbox', objects: OBJECTS, ...params });
  const world = (): FakeWorld => ({ secrets: { 'db-password': okSecret('db-password', 'v1'), 'api-key': okSecret('api-key', 'v2') }, calls: [], tokenForms: [] });

  it('sends the api://AKSIdentityBinding token to the token proxy, never to Entra', async () => {
    const w = world();
    const seen: string[] = [];
    const out = await mountVolume(
      deps(
        w,
        {
          tokenAudiences: async () => ['api://AzureADTokenExchange', 'api://AKSIdentityBinding'],
          tokenProxy: async (clientId, tenantId, token) => (seen.push(`${clientId} ${tenantId} ${token}`), { ok: true, token: 'kv-token' }),
        },
        proxySpc(),
      ),
      POD,
      VOLUME,
    );
    expect(out.ok).toBe(true);
    expect(seen).toEqual([`cid ${TENANT} sa-token-for-web-1-api://AKSIdentityBinding`]);
    expect(w.tokenForms).toEqual([]);
  });

  it('words a missing audience and a missing clientID as the provider does', async () => {
    const noAudience = await mountVolume(deps(world(), {}, proxySpc()), POD, VOLUME);
    expect(noAudience.ok).toBe(false);
    expect(!noAudience.ok && noAudience.message).toContain(
      'failed to build auth config for mode AzureTokenProxy: failed to parse service account token for identity binding, error: token for audience api://AKSIdentityBinding not found',
    );
    const noClient = await mountVolume(deps(world(), { tokenAudiences: async () => ['api://AKSIdentityBinding'] }, proxySpc({ clientID: '' })), POD, VOLUME);
    expect(!noClient.ok && noClient.message).toContain('failed to build auth config for mode AzureTokenProxy: clientID is required for identity binding');
    const both = await mountVolume(deps(world(), {}, proxySpc({ useVMManagedIdentity: 'true' })), POD, VOLUME);
    expect(!both.ok && both.message).toContain('only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy');
  });

  it('reports the proxy refusal inside the object error, as the provider wraps it', async () => {
    const refused = await mountVolume(
      deps(
        world(),
        {
          tokenAudiences: async () => ['api://AKSIdentityBinding'],
          tokenProxy: async () => ({ ok: false, error: 'ClientAssertionCredential authentication failed. ... not allowed to use-managed-identity cid' }),
        },
        proxySpc(),
      ),
      POD,
      VOLUME,
    );
    expect(!refused.ok && refused.message).toContain(
      'failed to get objectType:secret, objectName:db-password, objectVersion:: ClientAssertionCredential authentication failed. ... not allowed to use-managed-identity cid',
    );
  });
});
