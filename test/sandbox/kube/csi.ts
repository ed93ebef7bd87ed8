// What the Secrets Store CSI Driver (NodePublishVolume) and the Azure Key Vault provider
// (GetSecretsStoreObjectContent) do for one pod volume, with their error texts, taken from:
//   driver:   github.com/kubernetes-sigs/secrets-store-csi-driver @ 0aad886f70e94a6037325f4eaba4660338dde448
//             pkg/secrets-store/nodeserver.go, provider_client.go, utils.go  (cited "driver <file>:<line>")
//   provider: github.com/Azure/secrets-store-csi-driver-provider-azure @ d5f7cf5b598c2eede99ad3683de0ba10f7a8736b
//             pkg/server/server.go, pkg/provider/provider.go, pkg/provider/types/parameters.go, pkg/auth/auth.go
//             (cited "provider <file>:<line>"); the provider authenticates with azidentity
//             (NewClientAssertionCredential, auth.go:220), so Entra failures read as azidentity's
//             AuthenticationFailedError and vault failures as azcore's ResponseError (azure-sdk-for-go).
//   kubelet:  "MountVolume.SetUp failed for volume %q : <err>" (kubernetes operation_generator GenerateError).
// gRPC turns the driver's plain errors into `rpc error: code = Unknown desc = <err>`.
// Secret values only live in the returned `files` (in memory); they never reach a message.
import { parse as parseYaml } from 'yaml';

export const CSI_DRIVER = 'secrets-store.csi.k8s.io';
export const TOKEN_AUDIENCE = 'api://AzureADTokenExchange';
/** The token audience of identity bindings (provider pkg/auth/auth.go IdentityBindingTokenAudience). */
export const IDENTITY_BINDING_AUDIENCE = 'api://AKSIdentityBinding';
export const KEYVAULT_RESOURCE = 'https://vault.azure.net';
export const KEYVAULT_API_VERSION = '7.6';
const SEPARATOR = '--------------------------------------------------------------------------------';

export interface KeyVaultObject {
  objectName: string;
  objectType: string;
  objectAlias?: string;
  objectVersion?: string;
  objectVersionHistory?: number;
  objectEncoding?: string;
  objectFormat?: string;
}

export interface MountedObject {
  /** `<type>/<name>` as the provider reports it (GetObjectUID). */
  id: string;
  version: string;
}

export interface SecretProviderClassLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    provider?: string;
    parameters?: Record<string, string>;
    secretObjects?: Array<{
      secretName?: string;
      type?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      data?: Array<{ objectName?: string; key?: string }>;
    }>;
  };
}

export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  serviceAccountName: string;
}

export interface CsiVolume {
  name: string;
  readOnly?: boolean;
  volumeAttributes?: Record<string, string>;
  nodePublishSecretRef?: { name?: string };
}

/** A failed HTTP exchange, kept raw so the SDK's error text can be rebuilt. */
export interface HttpFailure {
  method: string;
  url: string;
  status: number;
  statusText: string;
  body: string;
  errorCodeHeader?: string;
}

export type TokenResult = { ok: true; token: string } | { ok: false; error: string };

export interface MountDeps {
  /** The SPC, or `undefined` when it does not exist (throws for other API errors). */
  getSecretProviderClass(namespace: string, name: string): Promise<SecretProviderClassLike | undefined>;
  /** Audiences of the CSIDriver object's tokenRequests (what the kubelet passes to the driver). */
  tokenAudiences(): Promise<string[]>;
  /** TokenRequest for the pod's service account, bound to the pod. */
  serviceAccountToken(pod: PodRef, audience: string): Promise<string>;
  /** Secrets of nodePublishSecretRef (service-principal mode), or undefined when absent. */
  nodePublishSecret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** The vault's data-plane URL (`properties.vaultUri`) or undefined when no such vault exists. */
  vaultUri(name: string): string | undefined | Promise<string | undefined>;
  /** Entra authority host (https://127.0.0.1:27011). */
  authorityHost: string;
  /** A token for a managed identity (useVMManagedIdentity), as IMDS would hand it out. */
  managedIdentityToken(clientId: string | undefined, resource: string): Promise<TokenResult>;
  /** The AKS token proxy of identity bindings (useAzureTokenProxy): token-proxy.ts. */
  tokenProxy?(clientId: string, tenantId: string, serviceAccountToken: string): Promise<TokenResult>;
  fetch: typeof fetch;
}

export type MountOutcome =
  { ok: true; spcName: string; objects: MountedObject[]; files: Map<string, Buffer>; spc: SecretProviderClassLike } | { ok: false; spcName?: string; message: string; reason: string };

class ProviderError extends Error {}

/** The full text of the kubelet's FailedMount event for a volume (kubelet GenerateError, see header). */
export function failedMountMessage(volumeName: string, driverError: string): string {
  return `MountVolume.SetUp failed for volume "${volumeName}" : ${driverError}`;
}

/**
 * How the driver reports a provider error back to the kubelet (both wrapped as gRPC Unknown):
 * driver nodeserver.go:251 "failed to mount secrets store objects for pod %s/%s, err: %w" around
 * provider server.go:61 "failed to mount objects, error: %w".
 */
export function providerFailure(namespace: string, pod: string, providerError: string): string {
  return `rpc error: code = Unknown desc = failed to mount secrets store objects for pod ${namespace}/${pod}, err: rpc error: code = Unknown desc = failed to mount objects, error: ${providerError}`;
}

function indentJson(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function urlHostPath(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** azcore's ResponseError.Error() text. */
export function azcoreResponseError(f: HttpFailure): string {
  let code = f.errorCodeHeader ?? '';
  if (!code) {
    try {
      const parsed = JSON.parse(f.body) as { error?: { code?: unknown }; code?: unknown };
      const inner = parsed.error && typeof parsed.error === 'object' ? parsed.error : parsed;
      if (typeof inner.code === 'string') code = inner.code;
    } catch {
      code = '';
    }
  }
  const lines = [`${f.method} ${urlHostPath(f.url)}`, SEPARATOR, `RESPONSE ${f.status}: ${f.status} ${f.statusText}`, code ? `ERROR CODE: ${code}` : 'ERROR CODE UNAVAILABLE', SEPARATOR];
  lines.push(f.body ? indentJson(f.body) : 'Response contained no body');
  lines.push(SEPARATOR);
  return lines.join('\n') + '\n';
}

/** azidentity's AuthenticationFailedError.Error() text. */
export function azidentityAuthError(credType: string, f: HttpFailure, anchor?: string): string {
  const lines = [`${credType} authentication failed. `, `${f.method} ${urlHostPath(f.url)}`, SEPARATOR, `RESPONSE ${f.status}: ${f.status} ${f.statusText}`, SEPARATOR];
  lines.push(f.body ? indentJson(f.body) : 'Response contained no body');
  lines.push(SEPARATOR);
  let text = lines.join('\n') + '\n';
  if (anchor) text += `To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot#${anchor}`;
  return text;
}

/** provider provider.go:599 wrapObjectTypeError: "failed to get objectType:%s, objectName:%s, objectVersion:%s" + ": <cause>". */
export function objectTypeError(obj: KeyVaultObject, cause: string): string {
  return `failed to get objectType:${obj.objectType}, objectName:${obj.objectName}, objectVersion:${obj.objectVersion ?? ''}: ${cause}`;
}

/** The `objects` parameter: `array:` of YAML documents, each one KeyVaultObject. */
export function parseObjects(objects: string): KeyVaultObject[] {
  let outer: unknown;
  try {
    outer = parseYaml(objects);
  } catch (err) {
    // provider provider.go:260
    throw new ProviderError(`failed to yaml unmarshal objects, error: ${(err as Error).message.split('\n')[0]}`);
  }
  const array = (outer as { array?: unknown } | null)?.array;
  const items = Array.isArray(array) ? array : [];
  return items.map((item, i) => {
    let o: Record<string, unknown>;
    try {
      o = (typeof item === 'string' ? parseYaml(item) : item) as Record<string, unknown>;
    } catch (err) {
      // provider provider.go:269
      throw new ProviderError(`unmarshal failed for keyVaultObjects at index ${i}, error: ${(err as Error).message.split('\n')[0]}`);
    }
    const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v).trim());
    const kv: KeyVaultObject = {
      objectName: str(o?.objectName) ?? '',
      objectType: str(o?.objectType) ?? '',
      objectAlias: str(o?.objectAlias) || undefined,
      objectVersion: str(o?.objectVersion) ?? '',
      objectVersionHistory: o?.objectVersionHistory === undefined ? undefined : Number(o.objectVersionHistory),
      objectEncoding: str(o?.objectEncoding) || undefined,
      objectFormat: str(o?.objectFormat) || undefined,
    };
    const fileName = kv.objectAlias ?? kv.objectName;
    let problem: string | undefined;
    const format = kv.objectFormat?.toLowerCase();
    const encoding = kv.objectEncoding?.toLowerCase();
    if (format && format !== 'pem' && format !== 'pfx') problem = `invalid objectFormat: ${kv.objectFormat}, should be PEM or PFX`;
    else if (kv.objectFormat === 'pfx' && kv.objectType !== 'secret') problem = 'PFX format only supported for objectType: secret';
    else if (encoding && kv.objectType !== 'secret') problem = 'objectEncoding only supported for objectType: secret';
    else if (encoding && !['hex', 'base64', 'utf-8'].includes(encoding)) problem = `invalid objectEncoding: ${kv.objectEncoding}, should be hex, base64 or utf-8`;
    else if (!fileName) problem = 'file name must not be empty';
    else if (fileName.startsWith('/')) problem = 'file name must be a relative path';
    else if (fileName.split('/').includes('..')) problem = "file name must not contain '..'";
    if (problem) throw new ProviderError(objectTypeError(kv, problem));
    return kv;
  });
}

/** `<type>/<name>`, the id the provider reports and the SPCPS carries (provider types/parameters.go:113 GetObjectUID, single version). */
export function objectUid(o: KeyVaultObject): string {
  return `${o.objectType}/${o.objectName}`;
}

function boolParam(params: Record<string, string>, name: string): boolean {
  const v = (params[name] ?? '').trim();
  if (v === '') return false;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new ProviderError(`failed to parse ${name} flag, error: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/** Go's net/http error text for a transport failure: `Post "url": <cause>`. */
export function transportError(method: string, url: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const verb = method === 'POST' ? 'Post' : 'Get';
  return `${verb} "${url}": ${cause?.message ?? (err as Error).message}`;
}

async function send(deps: MountDeps, method: string, url: string, init?: RequestInit): Promise<Response | string> {
  try {
    return await deps.fetch(url, { ...init, method });
  } catch (err) {
    return transportError(method, url, err);
  }
}

/**
 * A client-credentials request at Entra as azidentity/MSAL make it: authority discovery, then the
 * token endpoint. Transport failures read `<Cred>: <Go error>`, Entra's refusals the full
 * AuthenticationFailedError text (with Entra's AADSTS body).
 */
async function tokenRequest(deps: MountDeps, tenantId: string, form: URLSearchParams, credType: string, anchor?: string): Promise<TokenResult> {
  const discoveryUrl = `${deps.authorityHost.replace(/\/$/, '')}/${tenantId}/v2.0/.well-known/openid-configuration`;
  const disc = await send(deps, 'GET', discoveryUrl);
  if (typeof disc === 'string') return { ok: false, error: `${credType}: ${disc}` };
  const discBody = await disc.text();
  if (!disc.ok) return { ok: false, error: azidentityAuthError(credType, { method: 'GET', url: discoveryUrl, status: disc.status, statusText: disc.statusText, body: discBody }, anchor) };
  const endpoint = (JSON.parse(discBody) as { token_endpoint: string }).token_endpoint;
  const res = await send(deps, 'POST', endpoint, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  if (typeof res === 'string') return { ok: false, error: `${credType}: ${res}` };
  const body = await res.text();
  if (!res.ok) return { ok: false, error: azidentityAuthError(credType, { method: 'POST', url: endpoint, status: res.status, statusText: res.statusText, body }, anchor) };
  const token = (JSON.parse(body) as { access_token?: string }).access_token;
  return token ? { ok: true, token } : { ok: false, error: `${credType}: token response had no access_token` };
}

/** Client-assertion exchange at Entra, as azidentity's ClientAssertionCredential does it. */
function exchangeAssertion(deps: MountDeps, tenantId: string, clientId: string, assertion: string): Promise<TokenResult> {
  const form = new URLSearchParams({
    client_id: clientId,
    scope: `${KEYVAULT_RESOURCE}/.default`,
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  });
  return tokenRequest(deps, tenantId, form, 'ClientAssertionCredential');
}

function clientSecretToken(deps: MountDeps, tenantId: string, clientId: string, clientSecret: string): Promise<TokenResult> {
  const form = new URLSearchParams({ client_id: clientId, scope: `${KEYVAULT_RESOURCE}/.default`, grant_type: 'client_credentials', client_secret: clientSecret });
  return tokenRequest(deps, tenantId, form, 'ClientSecretCredential', 'client-secret');
}

interface FetchedObject {
  version: string;
  content: Buffer;
}

async function fetchObject(deps: MountDeps, vaultUri: string, token: string, o: KeyVaultObject): Promise<FetchedObject | string> {
  const collection = o.objectType === 'secret' ? 'secrets' : o.objectType === 'key' ? 'keys' : 'certificates';
  const url = `${vaultUri.replace(/\/?$/, '/')}${collection}/${encodeURIComponent(o.objectName)}/${encodeURIComponent(o.objectVersion ?? '')}?api-version=${KEYVAULT_API_VERSION}`;
  const res = await send(deps, 'GET', url, { headers: { authorization: `Bearer ${token}` } });
  if (typeof res === 'string') return res;
  const body = await res.text();
  if (!res.ok) {
    return azcoreResponseError({ method: 'GET', url, status: res.status, statusText: res.statusText, body, errorCodeHeader: res.headers.get('x-ms-error-code') ?? undefined });
  }
  const parsed = JSON.parse(body) as { id?: string; kid?: string; value?: string; key?: { kid?: string }; cer?: string };
  const id = parsed.id ?? parsed.key?.kid ?? parsed.kid ?? '';
  const version = id.split('/').filter(Boolean).pop() ?? '';
  let content: Buffer;
  if (o.objectType === 'secret') {
    const value = parsed.value ?? '';
    const encoding = o.objectFormat?.toLowerCase() === 'pfx' ? 'base64' : o.objectEncoding?.toLowerCase();
    content = encoding === 'base64' ? Buffer.from(value, 'base64') : encoding === 'hex' ? Buffer.from(value, 'hex') : Buffer.from(value, 'utf8');
  } else if (o.objectType === 'cert') {
    const der = Buffer.from(parsed.cer ?? '', 'base64');
    content = Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`);
  } else {
    content = Buffer.from(JSON.stringify(parsed.key ?? {}));
  }
  return { version, content };
}

/** The provider's GetSecretsStoreObjectContent: returns files + versions or throws ProviderError. */
async function providerMount(
  deps: MountDeps,
  pod: PodRef,
  params: Record<string, string>,
  secrets: Record<string, string> | undefined,
): Promise<{ objects: MountedObject[]; files: Map<string, Buffer> }> {
  const keyvaultName = (params.keyvaultName ?? '').trim();
  const tenantId = (params.tenantID ?? '').trim() || (params.tenantId ?? '').trim();
  const usePodIdentity = boolParam(params, 'usePodIdentity');
  const useVMManagedIdentity = boolParam(params, 'useVMManagedIdentity');
  const useAzureTokenProxy = boolParam(params, 'useAzureTokenProxy');
  if ([usePodIdentity, useVMManagedIdentity, useAzureTokenProxy].filter(Boolean).length > 1) {
    throw new ProviderError('only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy');
  }
  const mode = usePodIdentity ? 'PodIdentity' : useVMManagedIdentity ? 'VMManagedIdentity' : useAzureTokenProxy ? 'AzureTokenProxy' : 'None';
  const clientId = (params.clientID ?? '').trim();
  const saTokens = params['csi.storage.k8s.io/serviceAccount.tokens'] ?? '';
  if (!keyvaultName) throw new ProviderError('keyvaultName is not provided');
  if (!tenantId) throw new ProviderError('tenantId is not provided');
  const cloudName = (params.cloudName ?? '').trim();
  if (cloudName && !['AzurePublicCloud', 'AZUREPUBLICCLOUD', 'azurepubliccloud'].includes(cloudName)) {
    throw new ProviderError(`cloudName ${cloudName} is not valid, error: autorest/azure: There is no cloud environment matching the name "${cloudName.toUpperCase()}"`);
  }

  // buildAuthConfig
  let assertion: string | undefined;
  let spClient: { id: string; secret: string } | undefined;
  if (mode === 'AzureTokenProxy') {
    // provider provider.go:126-144 (buildAuthConfig) and auth.go:397-413 (parseTokenForAudience)
    if (!clientId) throw new ProviderError(`failed to build auth config for mode ${mode}: clientID is required for identity binding`);
    if (!saTokens) throw new ProviderError(`failed to build auth config for mode ${mode}: service account tokens are required for identity binding`);
    const tokens = JSON.parse(saTokens) as Record<string, { token?: string }>;
    assertion = tokens[IDENTITY_BINDING_AUDIENCE]?.token;
    if (!assertion)
      throw new ProviderError(
        `failed to build auth config for mode ${mode}: failed to parse service account token for identity binding, error: token for audience ${IDENTITY_BINDING_AUDIENCE} not found`,
      );
  } else if (clientId && mode === 'None') {
    // provider provider.go:148 + :240, auth.go:40 and :411; auth.go:361/375/378 for the service-principal mode
    if (!saTokens) throw new ProviderError(`failed to build auth config for mode ${mode}: failed to parse workload identity tokens, error: service account tokens not found`);
    const tokens = JSON.parse(saTokens) as Record<string, { token?: string }>;
    assertion = tokens[TOKEN_AUDIENCE]?.token;
    if (!assertion) throw new ProviderError(`failed to build auth config for mode ${mode}: failed to parse workload identity tokens, error: token for audience ${TOKEN_AUDIENCE} not found`);
  } else if (mode === 'None') {
    if (!secrets) throw new ProviderError(`failed to build auth config for mode ${mode}: failed to get credentials, nodePublishSecretRef secret is not set`);
    const lower = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k.toLowerCase(), v]));
    if (!lower.clientid) throw new ProviderError(`failed to build auth config for mode ${mode}: could not find clientid in secrets`);
    if (!lower.clientsecret) throw new ProviderError(`failed to build auth config for mode ${mode}: could not find clientsecret in secrets`);
    spClient = { id: lower.clientid, secret: lower.clientsecret };
  }

  if (!params.objects) throw new ProviderError('objects is not set');
  const objects = parseObjects(params.objects);
  if (objects.length === 0) return { objects: [], files: new Map() };
  for (const o of objects) {
    if (!['secret', 'key', 'cert'].includes(o.objectType)) {
      throw new ProviderError(objectTypeError(o, 'Invalid vaultObjectTypes. Should be secret, key, or cert'));
    }
  }
  // provider provider.go:289 errors.Wrap("failed to get vault") around :102 / :107
  if (keyvaultName.length < 3 || keyvaultName.length > 24) throw new ProviderError(`failed to get vault: Invalid vault name: "${keyvaultName}", must be between 3 and 24 chars`);
  if (!/^[-A-Za-z0-9]+$/.test(keyvaultName)) throw new ProviderError(`failed to get vault: Invalid vault name: "${keyvaultName}", must match [-a-zA-Z0-9]{3,24}`);

  // The token is taken lazily, on the first vault request (azsecrets' bearer-token policy).
  let tokenPromise: Promise<TokenResult> | undefined;
  const getToken = (): Promise<TokenResult> => {
    if (!tokenPromise) {
      if (mode === 'PodIdentity') {
        tokenPromise = Promise.resolve({
          ok: false,
          error: `failed to get pod identity token: Get "http://localhost:2579/host/token/?resource=${KEYVAULT_RESOURCE}": dial tcp 127.0.0.1:2579: connect: connection refused (aad-pod-identity is not installed)`,
        });
      } else if (mode === 'VMManagedIdentity') {
        tokenPromise = deps.managedIdentityToken((params.userAssignedIdentityID ?? '').trim() || undefined, KEYVAULT_RESOURCE);
      } else if (mode === 'AzureTokenProxy') {
        tokenPromise = deps.tokenProxy ? deps.tokenProxy(clientId, tenantId, assertion!) : Promise.resolve({ ok: false, error: 'proxy transport not available: the sandbox runs no token proxy' });
      } else if (assertion) {
        tokenPromise = exchangeAssertion(deps, tenantId, clientId, assertion);
      } else {
        tokenPromise = clientSecretToken(deps, tenantId, spClient!.id, spClient!.secret);
      }
    }
    return tokenPromise;
  };

  const vaultUri = await deps.vaultUri(keyvaultName);
  const files = new Map<string, Buffer>();
  const mounted: MountedObject[] = [];
  for (const o of objects) {
    if (!vaultUri) {
      const host = `${keyvaultName}.vault.azure.net`;
      throw new ProviderError(
        objectTypeError(
          o,
          `Get "https://${host}/${o.objectType === 'secret' ? 'secrets' : o.objectType === 'key' ? 'keys' : 'certificates'}/${o.objectName}/${o.objectVersion ?? ''}?api-version=${KEYVAULT_API_VERSION}": dial tcp: lookup ${host}: no such host`,
        ),
      );
    }
    const token = await getToken();
    if (!token.ok) throw new ProviderError(objectTypeError(o, token.error));
    const got = await fetchObject(deps, vaultUri, token.token, o);
    if (typeof got === 'string') throw new ProviderError(objectTypeError(o, got));
    files.set(o.objectAlias ?? o.objectName, got.content);
    mounted.push({ id: objectUid(o), version: got.version });
  }
  mounted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { objects: mounted, files };
}

/** NodePublishVolume for one `secrets-store.csi.k8s.io` volume of a pod. */
export async function mountVolume(deps: MountDeps, pod: PodRef, volume: CsiVolume): Promise<MountOutcome> {
  const attrib = volume.volumeAttributes ?? {};
  const spcName = attrib.secretProviderClass ?? '';
  const fail = (driverError: string, reason: string): MountOutcome => ({ ok: false, spcName: spcName || undefined, message: failedMountMessage(volume.name, driverError), reason });
  // driver nodeserver.go:114
  if (Object.keys(attrib).length === 0) return fail('rpc error: code = InvalidArgument desc = Volume attributes missing in request', 'InvalidArgument');
  // driver nodeserver.go:181
  if (!spcName) return fail('rpc error: code = Unknown desc = secretProviderClass is not set', 'SecretProviderClassNotSet');
  let spc: SecretProviderClassLike | undefined;
  try {
    spc = await deps.getSecretProviderClass(pod.namespace, spcName);
  } catch (err) {
    // driver utils.go:95 getSecretProviderItem
    return fail(`rpc error: code = Unknown desc = failed to get secretproviderclass ${pod.namespace}/${spcName}, error: ${(err as Error).message}`, 'SecretProviderClassNotFound');
  }
  if (!spc) {
    return fail(
      `rpc error: code = Unknown desc = failed to get secretproviderclass ${pod.namespace}/${spcName}, error: secretproviderclasses.secrets-store.csi.x-k8s.io "${spcName}" not found`,
      'SecretProviderClassNotFound',
    );
  }
  const provider = spc.spec?.provider ?? '';
  // driver utils.go:167 and :175
  if (!provider) return fail(`rpc error: code = Unknown desc = provider not set in ${pod.namespace}/${spcName}`, 'FailedToMount');
  if (!spc.spec?.parameters || Object.keys(spc.spec.parameters).length === 0) {
    return fail(`rpc error: code = Unknown desc = parameters not set in ${pod.namespace}/${spcName}`, 'FailedToMount');
  }
  if (provider !== 'azure') {
    // driver nodeserver.go:251 + :358 "error connecting to provider %q: %w" + provider_client.go:149 "%w: provider %q"
    return fail(
      `rpc error: code = Unknown desc = failed to mount secrets store objects for pod ${pod.namespace}/${pod.name}, err: error connecting to provider "${provider}": provider not found: provider "${provider}"`,
      'ProviderNotFound',
    );
  }
  const params: Record<string, string> = { ...spc.spec.parameters, ...attrib };
  params['csi.storage.k8s.io/pod.name'] = pod.name;
  params['csi.storage.k8s.io/pod.namespace'] = pod.namespace;
  params['csi.storage.k8s.io/pod.uid'] = pod.uid;
  params['csi.storage.k8s.io/serviceAccount.name'] = pod.serviceAccountName;
  params['csi.storage.k8s.io/ephemeral'] = 'true';
  // The kubelet asks for one token per CSIDriver tokenRequests audience, bound to the pod.
  const audiences = await deps.tokenAudiences();
  if (audiences.length > 0) {
    const tokens: Record<string, { token: string; expirationTimestamp: string }> = {};
    for (const aud of audiences) {
      try {
        tokens[aud] = { token: await deps.serviceAccountToken(pod, aud), expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() };
      } catch (err) {
        return fail(`kubernetes.io/csi: mounter.SetUpAt failed to get service accoount token attributes: ${(err as Error).message}`, 'FailedToMount');
      }
    }
    params['csi.storage.k8s.io/serviceAccount.tokens'] = JSON.stringify(tokens);
  }
  // driver nodeserver.go:209
  if (volume.readOnly !== true) return fail('rpc error: code = InvalidArgument desc = Readonly is not true in request', 'InvalidArgument');
  let secrets: Record<string, string> | undefined;
  if (volume.nodePublishSecretRef?.name) {
    secrets = await deps.nodePublishSecret(pod.namespace, volume.nodePublishSecretRef.name);
    if (!secrets) {
      return fail(`kubernetes.io/csi: mounter.SetUpAt failed to get CSI persistent source: secrets "${volume.nodePublishSecretRef.name}" not found`, 'FailedToMount');
    }
  }
  try {
    const { objects, files } = await providerMount(deps, pod, params, secrets);
    return { ok: true, spcName, objects, files, spc };
  } catch (err) {
    if (err instanceof ProviderError) return fail(providerFailure(pod.namespace, pod.name, err.message), 'FailedToMount');
    return fail(providerFailure(pod.namespace, pod.name, (err as Error).message), 'FailedToMount');
  }
}

/** Data of the Kubernetes Secret for one `secretObjects` entry (upstream GetSecretData), or an error. */
export function secretObjectData(
  secretObject: NonNullable<NonNullable<SecretProviderClassLike['spec']>['secretObjects']>[number],
  files: Map<string, Buffer>,
): { ok: true; data: Record<string, string> } | { ok: false; error: string } {
  const data: Record<string, string> = {};
  if (!secretObject.secretName) return { ok: false, error: 'secretName is empty' };
  if (!secretObject.type) return { ok: false, error: `type is empty for secret ${secretObject.secretName}` };
  for (const d of secretObject.data ?? []) {
    const objectName = (d.objectName ?? '').trim();
    const key = (d.key ?? '').trim();
    if (!key) return { ok: false, error: `key is empty for secret ${secretObject.secretName}` };
    const content = files.get(objectName);
    if (!content) return { ok: false, error: `file matching objectName ${objectName} not found in the pod` };
    data[key] = content.toString('base64');
  }
  return { ok: true, data };
}
