// Identity bindings need the kubelet to hand the Azure provider a service-account token for the
// audience `api://AKSIdentityBinding`: the CSIDriver object must list it in spec.tokenRequests (the
// driver's Helm chart does from v1.8.0; raw manifests and older charts do not). Checked before the
// pods are asked to mount, so the run names the fix instead of a per-pod mount failure.
import { IDENTITY_BINDING_AUDIENCE } from '../names.ts';
import type { KubeSession } from './client.ts';
import { errorSummary, kubeStatusOf } from './client.ts';

export const CSI_DRIVER_NAME = 'secrets-store.csi.k8s.io';

/** The provider's words when the token is missing (provider pkg/provider/provider.go + pkg/auth/auth.go @ d5f7cf5b). */
export const MISSING_BINDING_TOKEN = `failed to parse service account token for identity binding, error: token for audience ${IDENTITY_BINDING_AUDIENCE} not found`;

/** The problem with a CSIDriver's token requests for identity bindings, or undefined when there is none. */
export function tokenRequestProblem(audiences: string[] | undefined): string | undefined {
  if (audiences === undefined) return `CSIDriver ${CSI_DRIVER_NAME} not found: install the Secrets Store CSI driver (or enable the azure-keyvault-secrets-provider add-on)`;
  if (audiences.includes(IDENTITY_BINDING_AUDIENCE)) return undefined;
  const patch = `kubectl patch csidriver ${CSI_DRIVER_NAME} --type json -p '[{"op":"add","path":"/spec/tokenRequests/-","value":{"audience":"${IDENTITY_BINDING_AUDIENCE}"}}]'`;
  return (
    `CSIDriver ${CSI_DRIVER_NAME} does not request service-account tokens for audience ${IDENTITY_BINDING_AUDIENCE} (spec.tokenRequests: ${audiences.join(', ') || 'none'}), ` +
    `so every identity-binding mount fails with "${MISSING_BINDING_TOKEN}"; ` +
    `fix: install the driver's chart v1.8.0 or later, or add the audience: ${audiences.length ? patch : patch.replace('/spec/tokenRequests/-', '/spec/tokenRequests').replace(/"value":\{[^}]*\}/, `"value":[{"audience":"${IDENTITY_BINDING_AUDIENCE}"}]`)}`
  );
}

/** Reads the CSIDriver's token audiences (undefined: no such driver) and returns the problem, if any. */
export async function bindingAudienceProblem(kube: KubeSession): Promise<string | undefined> {
  let driver: { spec?: { tokenRequests?: { audience?: string }[] } };
  try {
    driver = (await kube.objects.read({ apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: { name: CSI_DRIVER_NAME } })) as typeof driver;
  } catch (err) {
    if (kubeStatusOf(err) === 404) return tokenRequestProblem(undefined);
    if (kubeStatusOf(err) === 403) return undefined; // not readable by the workflow: the gate diagnoses the mounts
    throw new Error(`cannot read CSIDriver ${CSI_DRIVER_NAME}: ${errorSummary(err)}`);
  }
  return tokenRequestProblem((driver.spec?.tokenRequests ?? []).map((r) => r.audience ?? '').filter(Boolean));
}
