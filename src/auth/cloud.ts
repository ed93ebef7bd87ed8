// Azure clouds the action knows, and the endpoint overrides used by the sandbox and Azure Stack.

export type CloudName = 'AzureCloud' | 'AzureUSGovernment' | 'AzureChinaCloud';

export interface Cloud {
  name: CloudName;
  /** Microsoft Entra authority host, no trailing slash. */
  authorityHost: string;
  /** Azure Resource Manager endpoint, no trailing slash. */
  armEndpoint: string;
  /** Token scope for ARM (`<resource>/.default`). */
  armScope: string;
  /** DNS suffix of vault hosts (`vault.azure.net`). */
  vaultDnsSuffix: string;
  /** CSI provider cloudName */
  csiCloudName: string;
}

const CLOUDS: Record<CloudName, Omit<Cloud, 'name'>> = {
  AzureCloud: {
    authorityHost: 'https://login.microsoftonline.com',
    armEndpoint: 'https://management.azure.com',
    armScope: 'https://management.azure.com/.default',
    vaultDnsSuffix: 'vault.azure.net',
    csiCloudName: 'AzurePublicCloud',
  },
  AzureUSGovernment: {
    authorityHost: 'https://login.microsoftonline.us',
    armEndpoint: 'https://management.usgovcloudapi.net',
    armScope: 'https://management.usgovcloudapi.net/.default',
    vaultDnsSuffix: 'vault.usgovcloudapi.net',
    csiCloudName: 'AzureUSGovernmentCloud',
  },
  AzureChinaCloud: {
    authorityHost: 'https://login.chinacloudapi.cn',
    armEndpoint: 'https://management.chinacloudapi.cn',
    armScope: 'https://management.chinacloudapi.cn/.default',
    vaultDnsSuffix: 'vault.azure.cn',
    csiCloudName: 'AzureChinaCloud',
  },
};

/** Accepted spellings (case-insensitive): azure/login's names and the CSI provider's. */
const ALIASES: Record<string, CloudName> = {
  azurecloud: 'AzureCloud',
  azurepubliccloud: 'AzureCloud',
  public: 'AzureCloud',
  azureusgovernment: 'AzureUSGovernment',
  azureusgovernmentcloud: 'AzureUSGovernment',
  azurechinacloud: 'AzureChinaCloud',
};

function httpsEndpoint(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${variable} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:') throw new Error(`${variable} must be an https URL, got ${url.protocol}//${url.host}`);
  if (url.search || url.hash) throw new Error(`${variable} must not carry a query or fragment`);
  return url.toString().replace(/\/+$/, '');
}

/** Known clouds; env AKV_AKS_AUTHORITY_HOST / AKV_AKS_ARM_ENDPOINT (https only) override endpoints (sandbox, Azure Stack). */
export function resolveCloud(name: string, env: Record<string, string | undefined>): Cloud {
  const key = (name || 'AzureCloud').trim().toLowerCase();
  const cloudName = Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined; // `constructor` is no cloud
  if (!cloudName) {
    throw new Error(`unknown Azure cloud ${JSON.stringify(name.slice(0, 100))}; expected one of ${Object.keys(CLOUDS).join(', ')}`);
  }
  const cloud: Cloud = { name: cloudName, ...CLOUDS[cloudName] };
  const authority = env.AKV_AKS_AUTHORITY_HOST?.trim();
  if (authority) cloud.authorityHost = httpsEndpoint('AKV_AKS_AUTHORITY_HOST', authority);
  const arm = env.AKV_AKS_ARM_ENDPOINT?.trim();
  if (arm) cloud.armEndpoint = httpsEndpoint('AKV_AKS_ARM_ENDPOINT', arm);
  return cloud;
}

/** True when a vault URI's host is under the cloud's vault DNS suffix (challenge verification can stay on). */
export function isCloudVaultHost(cloud: Cloud, vaultUri: string): boolean {
  const host = new URL(vaultUri).hostname.toLowerCase();
  const suffix = cloud.vaultDnsSuffix.toLowerCase();
  return host === suffix || host.endsWith(`.${suffix}`);
}
