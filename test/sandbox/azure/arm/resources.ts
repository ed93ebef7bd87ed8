// Microsoft.Resources as clients need it before anything else: the subscriptions and tenants a
// login lists (`az login`), resource groups, the generic resources list with `$filter`
// (`az keyvault list` reads vaults through it), and ARM's anonymous cloud metadata document.
import type { Reply } from '../http.ts';
import type { World } from '../world.ts';
import { lowerId } from '../world.ts';
import { METADATA_VERSIONS } from './api-versions.ts';
import { API_VERSIONS, armError, authorizeArm, checkArmApiVersion } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';
import { graphResource } from '../graph.ts';
import { identityBody } from './msi.ts';

const SUBSCRIPTION_NAME = 'Sandbox Subscription';
const TENANT_DOMAIN = 'contoso.onmicrosoft.com';

/** Whether the caller holds any role assignment inside the subscription (ARM lists only those). */
function canSeeSubscription(w: World, oid: string): boolean {
  const sub = lowerId(`/subscriptions/${w.subscriptionId}`);
  return w.assignments.some((a) => a.principalId.toLowerCase() === oid.toLowerCase() && (lowerId(a.scope) === sub || lowerId(a.scope).startsWith(sub + '/')));
}

function subscriptionBody(w: World): Record<string, unknown> {
  return {
    id: `/subscriptions/${w.subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: w.subscriptionId,
    tenantId: w.tenantId,
    displayName: SUBSCRIPTION_NAME,
    state: 'Enabled',
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
  };
}

/** A tenant as `apiVersion` shows it: 2016-06-01 has only id and tenantId. */
function tenantBody(w: World, apiVersion: string): Record<string, unknown> {
  const base = { id: `/tenants/${w.tenantId}`, tenantId: w.tenantId };
  if (apiVersion < '2018-06-01') return base;
  return { ...base, tenantCategory: 'Home', country: 'United States', countryCode: 'US', displayName: 'Contoso', domains: [TENANT_DOMAIN], defaultDomain: TENANT_DOMAIN, tenantType: 'AAD' };
}

interface GenericResource {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Record<string, string>;
  resourceGroup: string;
}

function allResources(w: World): GenericResource[] {
  const ids = [...w.identities.values()].map((i) => {
    const b = identityBody(i);
    return { id: b.id as string, name: i.name, type: b.type as string, location: i.location, tags: i.tags, resourceGroup: i.resourceGroup };
  });
  const vaults = w.vaults().map((v) => ({ id: v.id, name: v.name, type: 'Microsoft.KeyVault/vaults', location: v.location, tags: v.tags ?? {}, resourceGroup: v.resourceGroup }));
  return [...ids, ...vaults];
}

/**
 * `$filter` of the resources list: `resourceType eq '...'`, `name eq '...'`, `tagName eq '...'`
 * (with an optional `and tagValue eq '...'`), joined by `and`. undefined when it cannot be parsed.
 */
function parseResourceFilter(filter: string): Array<(r: GenericResource) => boolean> | undefined {
  const tests: Array<(r: GenericResource) => boolean> = [];
  let tagName: string | undefined;
  for (const clause of filter.split(/\s+and\s+/i)) {
    const m = /^\s*(resourceType|name|tagName|tagValue)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(clause);
    if (!m) return undefined;
    const field = m[1]!.toLowerCase();
    const value = m[2]!.replace(/''/g, "'");
    if (field === 'resourcetype') tests.push((r) => r.type.toLowerCase() === value.toLowerCase());
    else if (field === 'name') tests.push((r) => r.name.toLowerCase() === value.toLowerCase());
    else if (field === 'tagname') {
      tagName = value;
      tests.push((r) => Object.keys(r.tags).some((k) => k.toLowerCase() === value.toLowerCase()));
    } else {
      const key = tagName;
      if (key === undefined) return undefined;
      tests.push((r) => Object.entries(r.tags).some(([k, v]) => k.toLowerCase() === key.toLowerCase() && v === value));
    }
  }
  return tests;
}

function listResources(ctx: ArmContext, sub: string, rg: string | undefined): Reply {
  const w = ctx.world;
  const scope = rg ? `/subscriptions/${sub}/resourceGroups/${rg}` : `/subscriptions/${sub}`;
  const bad = checkArmApiVersion(ctx, API_VERSIONS.resources) ?? subscriptionError(ctx, sub, rg) ?? authorizeArm(ctx, scope, 'Microsoft.Resources/subscriptions/resources/read');
  if (bad) return bad;
  const filter = ctx.query.get('$filter');
  const tests = filter ? parseResourceFilter(filter) : [];
  if (!tests) return armError(400, 'InvalidFilterInQueryString', `Invalid $filter '${filter}' specified in the query string.`);
  const value = allResources(w)
    .filter((r) => !rg || r.resourceGroup.toLowerCase() === rg.toLowerCase())
    .filter((r) => tests.every((t) => t(r)))
    .map(({ id, name, type, location, tags }) => ({ id, name, type, location, tags }));
  return { status: 200, body: { value } };
}

function subscriptionError(ctx: ArmContext, sub: string, rg?: string): Reply | undefined {
  if (sub.toLowerCase() !== ctx.world.subscriptionId) return armError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
  if (rg !== undefined && !ctx.world.resourceGroups.has(rg.toLowerCase())) return armError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
  return undefined;
}

function groupBody(w: World, rg: string): Record<string, unknown> {
  return {
    id: `/subscriptions/${w.subscriptionId}/resourceGroups/${rg}`,
    name: rg,
    type: 'Microsoft.Resources/resourceGroups',
    location: w.defaultLocation,
    properties: { provisioningState: 'Succeeded' },
  };
}

const RE_SUB = /^\/subscriptions\/([^/]+)$/i;
const RE_RESOURCES = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/resources$/i;
const RE_GROUPS = /^\/subscriptions\/([^/]+)\/resourceGroups(?:\/([^/]+))?$/i;

export const resourcesRoute: ArmRoute = (ctx) => {
  const w = ctx.world;
  const apiVersion = ctx.query.get('api-version') ?? '';
  const readOnly = (): Reply | undefined => (ctx.method === 'GET' ? undefined : armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.'));
  if (/^\/subscriptions$/i.test(ctx.path)) {
    const bad = readOnly() ?? checkArmApiVersion(ctx, API_VERSIONS.subscriptions);
    if (bad) return bad;
    return { status: 200, body: { value: canSeeSubscription(w, ctx.caller.oid) ? [subscriptionBody(w)] : [] } };
  }
  if (/^\/tenants$/i.test(ctx.path)) {
    const bad = readOnly() ?? checkArmApiVersion(ctx, API_VERSIONS.subscriptions);
    if (bad) return bad;
    return { status: 200, body: { value: [tenantBody(w, apiVersion)] } };
  }
  let m: RegExpExecArray | null;
  if ((m = RE_SUB.exec(ctx.path))) {
    const bad = readOnly() ?? checkArmApiVersion(ctx, API_VERSIONS.subscriptions);
    if (bad) return bad;
    if (m[1]!.toLowerCase() !== w.subscriptionId || !canSeeSubscription(w, ctx.caller.oid)) return armError(404, 'SubscriptionNotFound', `The subscription '${m[1]}' could not be found.`);
    return { status: 200, body: subscriptionBody(w) };
  }
  if ((m = RE_RESOURCES.exec(ctx.path))) return readOnly() ?? listResources(ctx, m[1]!, m[2]);
  if ((m = RE_GROUPS.exec(ctx.path))) {
    const [, sub, rg] = m as unknown as [string, string, string | undefined];
    const bad =
      readOnly() ??
      checkArmApiVersion(ctx, API_VERSIONS.resources) ??
      subscriptionError(ctx, sub, rg) ??
      authorizeArm(ctx, `/subscriptions/${sub}${rg ? `/resourceGroups/${rg}` : ''}`, 'Microsoft.Resources/subscriptions/resourceGroups/read');
    if (bad) return bad;
    if (rg) return { status: 200, body: groupBody(w, rg) };
    return { status: 200, body: { value: [...w.resourceGroups].map((g) => groupBody(w, g)) } };
  }
  return undefined;
};

/**
 * `GET /metadata/endpoints` (anonymous on Azure), pointing at the sandbox's own login and ARM
 * endpoints. 2022-09-01 answers the current cloud as one object (what `az cloud register
 * --endpoint-resource-manager` maps); 2018-01-01 .. 2020-06-01 an array of clouds (what
 * ARM_CLOUD_METADATA_URL lists); 2015-01-01 the legacy object with galleryEndpoint/graphEndpoint.
 */
export function metadataEndpoints(w: World, apiVersion: string | null): Reply {
  if (!apiVersion) return armError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  if (!(METADATA_VERSIONS as readonly string[]).includes(apiVersion)) {
    return armError(
      400,
      'InvalidApiVersionParameter',
      `The api-version '${apiVersion}' is invalid. The supported versions are '${METADATA_VERSIONS.join(',')}'. Please see https://aka.ms/arm-api-versions for more details.`,
    );
  }
  const audiences = ['https://management.core.windows.net/', 'https://management.azure.com/'];
  if (apiVersion === '2015-01-01') {
    return {
      status: 200,
      body: {
        galleryEndpoint: `${w.armEndpoint}/`,
        graphEndpoint: 'https://graph.windows.net/',
        portalEndpoint: `${w.armEndpoint}/`,
        authentication: { loginEndpoint: `${w.authorityHost}/`, audiences },
      },
    };
  }
  const cloud = {
    portal: `${w.armEndpoint}/`,
    authentication: { loginEndpoint: w.authorityHost, audiences, tenant: 'common', identityProvider: 'AAD' },
    media: 'https://rest.media.azure.net',
    graphAudience: 'https://graph.windows.net/',
    graph: 'https://graph.windows.net/',
    name: 'AzureSandbox',
    suffixes: {
      acrLoginServer: 'azurecr.io',
      sqlServerHostname: 'database.windows.net',
      keyVaultDns: 'vault.azure.net',
      storage: 'core.windows.net',
      mhsmDns: 'managedhsm.azure.net',
      attestationEndpoint: 'attest.azure.net',
    },
    batch: 'https://batch.core.windows.net/',
    resourceManager: `${w.armEndpoint}/`,
    activeDirectoryDataLake: 'https://datalake.azure.net/',
    sqlManagement: 'https://management.core.windows.net:8443/',
    microsoftGraphResourceId: graphResource(w),
    appInsightsResourceId: 'https://api.applicationinsights.io',
    appInsightsTelemetryChannelResourceId: 'https://dc.applicationinsights.azure.com/v2/track',
    attestationResourceId: 'https://attest.azure.net',
    synapseAnalyticsResourceId: 'https://dev.azuresynapse.net',
    logAnalyticsResourceId: 'https://api.loganalytics.io',
    ossrDbmsResourceId: 'https://ossrdbms-aad.database.windows.net',
  };
  return { status: 200, body: apiVersion === '2022-09-01' ? cloud : [cloud] };
}
