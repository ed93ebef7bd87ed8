// SecretProviderClassPodStatus (secrets-store.csi.x-k8s.io/v1): what the CSI driver reports a pod mounted.
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export const SPC_GROUP = 'secrets-store.csi.x-k8s.io';
export const SPC_VERSION = 'v1';
export const SPC_PLURAL = 'secretproviderclasses';
export const SPCPS_PLURAL = 'secretproviderclasspodstatuses';

export interface SpcPodStatus {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; ownerReferences?: V1OwnerReference[]; resourceVersion?: string };
  status?: {
    podName?: string;
    secretProviderClassName?: string;
    mounted?: boolean;
    targetPath?: string;
    objects?: Array<{ id?: string; version?: string }>;
  };
}

/** The SPCPS of this pod (same namespace, owner UID = the pod's UID) for the given SecretProviderClass. */
export function spcpsFor(pod: V1Pod, spc: string, all: readonly SpcPodStatus[]): SpcPodStatus | undefined {
  const ns = pod.metadata?.namespace;
  const uid = pod.metadata?.uid;
  return all.find(
    (s) =>
      s.metadata?.namespace === ns &&
      s.status?.secretProviderClassName === spc &&
      s.status?.podName === pod.metadata?.name &&
      uid !== undefined &&
      (s.metadata?.ownerReferences ?? []).some((o) => o.uid === uid),
  );
}

/** object id -> version of a mounted SPCPS (empty when not mounted). */
export function mountedVersions(s: SpcPodStatus | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!s?.status?.mounted) return m;
  for (const o of s.status.objects ?? []) if (o.id) m.set(o.id, o.version ?? '');
  return m;
}
