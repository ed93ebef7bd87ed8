// Key Vault keys and certificates, read only, the way the CSI provider reads them for objectType
// `key` (`GET /keys/{name}[/{version}]`) and `cert` (`GET /certificates/{name}[/{version}]`).
//
// The secrets API cannot see keys, so without this the plan could not tell a missing key from a
// present one and the gate could not check which key version a pod mounted; and a certificate read
// through its backing secret needs another permission than the provider's read of the certificate.
// Those GETs are all the action needs, so instead of the keys and certificates SDKs it sends them
// over the action's own Key Vault reads (src/auth/rest.ts: the challenge authentication and the
// retries of every other read), and reads the version from `key.kid` or `id`.
import type { TokenCredential } from '@azure/core-auth';
import { KEYVAULT_API_VERSION } from '../auth/arm.ts';
import { isCloudVaultHost } from '../auth/cloud.ts';
import type { Cloud } from '../auth/cloud.ts';
import { azureStatusOf } from '../auth/http.ts';
import { vaultReader } from '../auth/rest.ts';

/** What a read of one object found: its version, that it does not exist, or that the caller may not read it. */
export type ObjectLookup = { state: 'found'; version: string } | { state: 'missing' } | { state: 'unreadable'; status: number };

export type ObjectCollection = 'keys' | 'certificates';

export interface ObjectReader {
  /** The object's current version (or `version` itself, checked to exist); throws AzureRestError on an error answer. */
  version(collection: ObjectCollection, name: string, version?: string): Promise<string>;
  /** Like `version`, but a 404 or 401/403 is an answer rather than an error. */
  lookup(collection: ObjectCollection, name: string): Promise<ObjectLookup>;
}

export function objectReader(credential: TokenCredential, cloud: Cloud, vaultUri: string): ObjectReader {
  const reads = vaultReader(credential, vaultUri, KEYVAULT_API_VERSION, isCloudVaultHost(cloud, vaultUri));
  const version = async (collection: ObjectCollection, name: string, v?: string): Promise<string> => {
    const path = `/${collection}/${encodeURIComponent(name)}${v ? `/${encodeURIComponent(v)}` : ''}`;
    const parsed = await reads.get<{ id?: string; key?: { kid?: string } }>(path);
    const id = (collection === 'keys' ? parsed.key?.kid : parsed.id) ?? '';
    const found = new RegExp(`/${collection}/[^/]+/([^/?]+)$`).exec(id)?.[1];
    if (!found) throw new Error(`GET /${collection}/${name}: the answer carries no version (${JSON.stringify(id)})`);
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
