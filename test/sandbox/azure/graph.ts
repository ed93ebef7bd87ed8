// The sliver of Microsoft Graph clients call after a role assignment (the Azure CLI resolves
// principal names with POST /v1.0/directoryObjects/getByIds), served by the sandbox's Entra under
// /graph. The sandbox cloud's metadata names `${authorityHost}/graph/` as its Graph resource, as a
// sovereign cloud names its own (https://microsoftgraph.chinacloudapi.cn).
import type { HttpRequestInfo, Reply } from './http.ts';
import type { World } from './world.ts';

export const GRAPH_PATH = '/graph';

export function graphResource(w: World): string {
  return `${w.authorityHost}${GRAPH_PATH}/`;
}

function graphError(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message, innerError: { date: new Date().toISOString().replace(/\.\d{3}Z$/, '') } } } };
}

/** Graph requests (path under /graph); undefined when the path is not Graph's. */
export function handleGraph(w: World, req: HttpRequestInfo): Reply | undefined {
  const path = req.url.pathname;
  if (!path.startsWith(`${GRAPH_PATH}/`)) return undefined;
  const bearer = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!bearer || !w.verifyAccessToken(bearer, graphResource(w)).ok) {
    return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
  }
  if (req.method === 'POST' && /^\/graph\/(v1\.0|beta)\/directoryObjects\/getByIds$/.test(path)) {
    const ids = ((JSON.parse(req.body.toString('utf8') || '{}') as { ids?: unknown }).ids ?? []) as unknown[];
    const wanted = new Set(ids.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase()));
    const value = w
      .principals()
      .filter((p) => wanted.has(p.objectId.toLowerCase()))
      .map((p) => ({
        '@odata.type': '#microsoft.graph.servicePrincipal',
        id: p.objectId,
        appId: p.clientId,
        displayName: p.displayName,
        servicePrincipalType: p.kind === 'managedIdentity' ? 'ManagedIdentity' : 'Application',
        servicePrincipalNames: [p.clientId],
      }));
    return { status: 200, body: { '@odata.context': `${graphResource(w)}v1.0/$metadata#directoryObjects`, value } };
  }
  return graphError(404, 'Request_ResourceNotFound', `Resource '${path}' does not exist or one of its queried reference-property objects are not present.`);
}
