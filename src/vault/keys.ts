// Key Vault keys, read only: the version of a key the manifest mounts as `existing` (objectType key).
//
// The secrets API cannot see keys, so without this the plan could not tell a missing key from a
// present one and the gate could not check which key version a pod mounted. Two GETs are all the
// action needs (`GET /keys/{name}[/{version}]`), so instead of the keys SDK (and its crypto client)
// it sends them through a core-rest-pipeline with Key Vault's own challenge authentication policy,
// the same retry options as every other client, and reads `key.kid` (`.../keys/{name}/{version}`).
import type { TokenCredential } from '@azure/core-auth';
import { RestError, createDefaultHttpClient, createPipelineFromOptions, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { HttpClient, Pipeline } from '@azure/core-rest-pipeline';
import { keyVaultAuthenticationPolicy } from '@azure/keyvault-common';
import { KEYVAULT_API_VERSION } from '../auth/arm.ts';
import { isCloudVaultHost } from '../auth/cloud.ts';
import type { Cloud } from '../auth/cloud.ts';
import { sdkClientOptions, statusOf } from '../auth/http.ts';

/** What a read of one key found: its version, that it does not exist, or that the caller may not read keys. */
export type KeyLookup = { state: 'found'; version: string } | { state: 'missing' } | { state: 'unreadable'; status: number };

export interface KeyReader {
  /** The key's current version (or `version` itself, checked to exist); throws RestError on any failure. */
  version(name: string, version?: string): Promise<string>;
  /** Like `version`, but a 404 or 401/403 is an answer rather than an error. */
  lookup(name: string): Promise<KeyLookup>;
}

export function keyReader(credential: TokenCredential, cloud: Cloud, vaultUri: string): KeyReader {
  const base = sdkClientOptions();
  const pipeline: Pipeline = createPipelineFromOptions({ retryOptions: base.retryOptions, userAgentOptions: base.userAgentOptions });
  for (const { policy } of base.additionalPolicies) pipeline.addPolicy(policy, { afterPhase: 'Retry' }); // per retry, as in the SDK clients
  pipeline.addPolicy(keyVaultAuthenticationPolicy(credential, { disableChallengeResourceVerification: !isCloudVaultHost(cloud, vaultUri) }));
  const http: HttpClient = createDefaultHttpClient();
  const root = vaultUri.replace(/\/+$/, '');

  const version = async (name: string, v?: string): Promise<string> => {
    const url = `${root}/keys/${encodeURIComponent(name)}${v ? `/${encodeURIComponent(v)}` : ''}?api-version=${KEYVAULT_API_VERSION}`;
    const request = createPipelineRequest({ url, method: 'GET' });
    const response = await pipeline.sendRequest(http, request);
    const body = response.bodyAsText ?? '';
    if (response.status !== 200) {
      let code: string | undefined;
      let message = `GET /keys/${name}: HTTP ${response.status}`;
      try {
        const err = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
        code = err?.code;
        if (err?.message) message = `${err.message} (${err.code ?? response.status})`;
      } catch {
        // not JSON: keep the status line
      }
      throw new RestError(message, { code, statusCode: response.status, request, response });
    }
    const kid = (JSON.parse(body) as { key?: { kid?: string } }).key?.kid ?? '';
    const found = /\/keys\/[^/]+\/([^/?]+)$/.exec(kid)?.[1];
    if (!found) throw new RestError(`GET /keys/${name}: the answer carries no key version (kid ${JSON.stringify(kid)})`, { statusCode: response.status, request, response });
    return found;
  };

  return {
    version,
    async lookup(name: string): Promise<KeyLookup> {
      try {
        return { state: 'found', version: await version(name) };
      } catch (e) {
        const status = statusOf(e);
        if (status === 404) return { state: 'missing' };
        if (status === 401 || status === 403) return { state: 'unreadable', status };
        throw e;
      }
    },
  };
}
