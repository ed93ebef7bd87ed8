// Key Vault keys and certificates, read only, the way the CSI provider reads them for objectType
// `key` (`GET /keys/{name}[/{version}]`) and `cert` (`GET /certificates/{name}[/{version}]`).
//
// The secrets API cannot see keys, so without this the plan could not tell a missing key from a
// present one and the gate could not check which key version a pod mounted; and a certificate read
// through its backing secret needs another permission than the provider's read of the certificate.
// Those GETs are all the action needs, so instead of the keys and certificates SDKs it sends them
// through a core-rest-pipeline with Key Vault's own challenge authentication policy and the same
// retry options as every other client, and reads the version from `key.kid` or `id`.
import type { TokenCredential } from '@azure/core-auth';
import { RestError, createDefaultHttpClient, createPipelineFromOptions, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { HttpClient, Pipeline } from '@azure/core-rest-pipeline';
import { keyVaultAuthenticationPolicy } from '@azure/keyvault-common';
import { KEYVAULT_API_VERSION } from '../auth/arm.ts';
import { isCloudVaultHost } from '../auth/cloud.ts';
import type { Cloud } from '../auth/cloud.ts';
import { sdkClientOptions, azureStatusOf } from '../auth/http.ts';

/** What a read of one object found: its version, that it does not exist, or that the caller may not read it. */
export type ObjectLookup = { state: 'found'; version: string } | { state: 'missing' } | { state: 'unreadable'; status: number };

export type ObjectCollection = 'keys' | 'certificates';

export interface ObjectReader {
  /** The object's current version (or `version` itself, checked to exist); throws RestError on any failure. */
  version(collection: ObjectCollection, name: string, version?: string): Promise<string>;
  /** Like `version`, but a 404 or 401/403 is an answer rather than an error. */
  lookup(collection: ObjectCollection, name: string): Promise<ObjectLookup>;
}

export function objectReader(credential: TokenCredential, cloud: Cloud, vaultUri: string): ObjectReader {
  const base = sdkClientOptions();
  const pipeline: Pipeline = createPipelineFromOptions({ retryOptions: base.retryOptions, userAgentOptions: base.userAgentOptions });
  for (const { policy } of base.additionalPolicies) pipeline.addPolicy(policy, { afterPhase: 'Retry' }); // per retry, as in the SDK clients
  pipeline.addPolicy(keyVaultAuthenticationPolicy(credential, { disableChallengeResourceVerification: !isCloudVaultHost(cloud, vaultUri) }));
  const http: HttpClient = createDefaultHttpClient();
  const root = vaultUri.replace(/\/+$/, '');

  const version = async (collection: ObjectCollection, name: string, v?: string): Promise<string> => {
    const path = `/${collection}/${name}`;
    const url = `${root}/${collection}/${encodeURIComponent(name)}${v ? `/${encodeURIComponent(v)}` : ''}?api-version=${KEYVAULT_API_VERSION}`;
    const request = createPipelineRequest({ url, method: 'GET' });
    const response = await pipeline.sendRequest(http, request);
    const body = response.bodyAsText ?? '';
    if (response.status !== 200) {
      let code: string | undefined;
      let message = `GET ${path}: HTTP ${response.status}`;
      try {
        const err = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
        code = err?.code;
        if (err?.message) message = `${err.message} (${err.code ?? response.status})`;
      } catch {
        // not JSON: keep the status line
      }
      throw new RestError(message, { code, statusCode: response.status, request, response });
    }
    const parsed = JSON.parse(body) as { id?: string; key?: { kid?: string } };
    const id = (collection === 'keys' ? parsed.key?.kid : parsed.id) ?? '';
    const found = new RegExp(`/${collection}/[^/]+/([^/?]+)$`).exec(id)?.[1];
    if (!found) throw new RestError(`GET ${path}: the answer carries no version (${JSON.stringify(id)})`, { statusCode: response.status, request, response });
    return found;
  };

  return {
    version,
    async lookup(collection: ObjectCollection, name: string): Promise<ObjectLookup> {
      try {
        return { state: 'found', version: await version(collection, name) };
      } catch (e) {
        const status = azureStatusOf(e);
        if (status === 404) return { state: 'missing' };
        if (status === 401 || status === 403) return { state: 'unreadable', status };
        throw e;
      }
    },
  };
}
