// The AKS token proxy of identity bindings, as the CSI provider reaches it (useAzureTokenProxy): the
// provider sends azidentity's client-assertion request, with the pod's `api://AKSIdentityBinding`
// service-account token as the assertion, to the proxy at the API server instead of Entra
// (provider pkg/auth/auth.go getIdentityBindingTokenCredential @ d5f7cf5b; azure-sdk-for-go
// sdk/azidentity/internal/customtokenproxy/rewrite.go @ 5b399e5c). The proxy authenticates the token
// (TokenReview), authorises the service account by RBAC (SubjectAccessReview: verb
// `use-managed-identity`, group `cid.wi.aks.azure.com`, resource = the identity's client id, as the AKS
// docs' ClusterRole grants it), then exchanges through the identity's binding and shared credential
// (test/sandbox/azure/arm/aks.ts). The proxy's own refusal texts are not published: the bodies here
// are the sandbox's wording, wrapped as azidentity's AuthenticationFailedError as the provider reports it.
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { aksState, identityBindingExchange } from '../azure/arm/aks.ts';
import type { World } from '../azure/world.ts';
import { azidentityAuthError, IDENTITY_BINDING_AUDIENCE, KEYVAULT_RESOURCE, type TokenResult } from './csi.ts';
/** The provider's default proxy URL (internal/identitybinding/identitybinding.go defaultTokenProxyURL). */
export const TOKEN_PROXY_URL = 'https://kubernetes.default.svc.cluster.local';

export type TokenProxy = (clientId: string, tenantId: string, serviceAccountToken: string) => Promise<TokenResult>;

function refusal(tenantId: string, status: number, statusText: string, error: string, description: string): TokenResult {
  const body = JSON.stringify({ error, error_description: description });
  return { ok: false, error: azidentityAuthError('ClientAssertionCredential', { method: 'POST', url: `${TOKEN_PROXY_URL}/${tenantId}/oauth2/v2.0/token`, status, statusText, body }) };
}

export function tokenProxySource(kc: KubeConfig, world: World | undefined): TokenProxy {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return async (clientId, tenantId, token) => {
    if (!world) return { ok: false, error: 'ClientAssertionCredential: no sandbox Azure world is running' };
    const review = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [IDENTITY_BINDING_AUDIENCE] } } });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) {
      return refusal(
        tenantId,
        401,
        'Unauthorized',
        'invalid_client',
        `the service account token is not valid for audience ${IDENTITY_BINDING_AUDIENCE}: ${review.status?.error ?? 'not authenticated'}`,
      );
    }
    const sar = await authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user.username, groups: user.groups, uid: user.uid, resourceAttributes: { group: 'cid.wi.aks.azure.com', resource: clientId, verb: 'use-managed-identity' } },
      },
    });
    if (!sar.status?.allowed) {
      return refusal(
        tenantId,
        403,
        'Forbidden',
        'unauthorized_client',
        `${user.username} is not allowed to use-managed-identity ${clientId} (cid.wi.aks.azure.com): no RBAC rule grants it${sar.status?.reason ? ` (${sar.status.reason})` : ''}`,
      );
    }
    // Every sandbox cluster record presents this one kube-apiserver: a binding on any of them serves it.
    const clusters = [...aksState(world).clusters.values()].map((c) => c.id);
    const r = identityBindingExchange(world, clusters, clientId, KEYVAULT_RESOURCE);
    if (r.ok) return { ok: true, token: r.token };
    return refusal(
      tenantId,
      r.status,
      r.status === 403 ? 'Forbidden' : r.status === 503 ? 'Service Unavailable' : 'Bad Request',
      r.status === 400 ? 'invalid_request' : 'unauthorized_client',
      r.error,
    );
  };
}
