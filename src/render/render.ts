// Pure, deterministic rendering of the Kubernetes objects a manifest asks for: Namespaces (when
// createNamespace), workload-identity ServiceAccounts and SecretProviderClasses for the Azure
// provider of the Secrets Store CSI Driver. Facts only Azure knows (tenant, client ids) are passed
// in; missing ones become explicit placeholders.
import { usesBinding } from '../manifest/types.ts';
import type { IdentitySpec, Manifest, MountedObject, TargetSpec } from '../manifest/types.ts';
import {
  SECRET_PROVIDER_CLASS_API_VERSION,
  SECRET_PROVIDER_CLASS_KIND,
  WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION,
  WORKLOAD_IDENTITY_TENANT_ID_ANNOTATION,
  WORKLOAD_IDENTITY_USE_LABEL,
  managedAnnotations,
  managedLabels,
} from './labels.ts';
import { renderBindingRbac } from './rbac.ts';
import { literalList, plainWordMap, stringifyForKube } from './yaml.ts';

export interface RenderFacts {
  /** Entra tenant of the vault and identities. Placeholder `<tenant-id>` when absent. */
  tenantId?: string;
  /** CSI provider cloud name; overrides the manifest's `cloudName`. Omitted when neither is set. */
  cloudName?: string;
  /** Client id of each namespace's identity, by namespace. Placeholder `<client-id:NAME>` when absent. */
  clientIds?: Record<string, string>;
}

export interface KubeObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

export const TENANT_PLACEHOLDER = '<tenant-id>';

export function clientIdPlaceholder(identityName: string): string {
  return `<client-id:${identityName}>`;
}

/** The client id workloads of `target` authenticate with, or its placeholder. */
export function clientIdFor(target: Pick<TargetSpec, 'namespace' | 'identity'>, facts: RenderFacts): string {
  const id: IdentitySpec = target.identity;
  switch (id.mode) {
    case 'external':
    case 'kubelet':
      return id.clientId;
    case 'managed':
    case 'existing':
      return facts.clientIds?.[target.namespace] ?? clientIdPlaceholder(id.name);
  }
}

/** One mounted object as the Azure provider reads it from the `objects` parameter. */
export function objectParameterEntry(o: MountedObject): Record<string, string> {
  const entry: Record<string, string> = { objectName: o.secret, objectType: o.objectType };
  if (o.alias !== undefined) entry.objectAlias = o.alias;
  if (o.version !== undefined) entry.objectVersion = o.version;
  if (o.format !== undefined) entry.objectFormat = o.format;
  if (o.encoding !== undefined) entry.objectEncoding = o.encoding;
  return entry;
}

/** The `objects` parameter: YAML `array:` of YAML strings, one per object, built by the serializer. */
export function renderObjectsParameter(objects: readonly MountedObject[]): string {
  const entries = objects.map((o) => {
    const entry = objectParameterEntry(o);
    // Names that are plain words are written directly: the same text, without a YAML document each.
    return plainWordMap(entry) ?? stringifyForKube(entry);
  });
  return literalList('array', entries) ?? stringifyForKube({ array: entries });
}

function namespaceObject(manifest: Manifest, name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: managedLabels(manifest), annotations: managedAnnotations(manifest) } };
}

function serviceAccountObject(manifest: Manifest, target: TargetSpec, serviceAccount: string, facts: RenderFacts): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: serviceAccount,
      namespace: target.namespace,
      labels: { ...managedLabels(manifest), [WORKLOAD_IDENTITY_USE_LABEL]: 'true' },
      annotations: {
        ...managedAnnotations(manifest),
        [WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION]: clientIdFor(target, facts),
        [WORKLOAD_IDENTITY_TENANT_ID_ANNOTATION]: facts.tenantId ?? TENANT_PLACEHOLDER,
      },
    },
  };
}

function secretProviderClassObject(manifest: Manifest, target: TargetSpec, facts: RenderFacts): KubeObject {
  const parameters: Record<string, string> = {
    usePodIdentity: 'false',
    keyvaultName: manifest.vault.name,
    tenantId: facts.tenantId ?? TENANT_PLACEHOLDER,
    objects: renderObjectsParameter(target.objects),
  };
  const id = target.identity;
  if (id.mode === 'kubelet') {
    parameters.useVMManagedIdentity = 'true';
    if (!id.systemAssigned) parameters.userAssignedIdentityID = id.clientId;
  } else if (usesBinding(target)) {
    // Identity binding: the provider exchanges an `api://AKSIdentityBinding` token through the AKS
    // token proxy; it reads `tenantID` (the spelling it prefers) and `clientID`.
    delete parameters.tenantId;
    parameters.tenantID = facts.tenantId ?? TENANT_PLACEHOLDER;
    parameters.useVMManagedIdentity = 'false';
    parameters.useAzureTokenProxy = 'true';
    parameters.clientID = clientIdFor(target, facts);
  } else {
    parameters.useVMManagedIdentity = 'false';
    parameters.clientID = clientIdFor(target, facts);
  }
  const cloudName = facts.cloudName ?? manifest.cloudName;
  if (cloudName) parameters.cloudName = cloudName;

  const spec: Record<string, unknown> = { provider: 'azure', parameters };
  if (target.syncTo) {
    const s = target.syncTo;
    const secretObject: Record<string, unknown> = {
      secretName: s.secretName,
      type: s.type,
      data: s.keys.map((k) => ({ objectName: k.object, key: k.key })),
    };
    if (Object.keys(s.labels).length > 0) secretObject.labels = { ...s.labels };
    if (Object.keys(s.annotations).length > 0) secretObject.annotations = { ...s.annotations };
    spec.secretObjects = [secretObject];
  }
  return {
    apiVersion: SECRET_PROVIDER_CLASS_API_VERSION,
    kind: SECRET_PROVIDER_CLASS_KIND,
    metadata: { name: target.secretProviderClass, namespace: target.namespace, labels: managedLabels(manifest), annotations: managedAnnotations(manifest) },
    spec,
  };
}

/** Objects of one target: its Namespace (when createNamespace), ServiceAccount (workload identity) and SecretProviderClass. */
export function renderTarget(manifest: Manifest, target: TargetSpec, facts: RenderFacts = {}): KubeObject[] {
  const out: KubeObject[] = [];
  if (target.createNamespace) out.push(namespaceObject(manifest, target.namespace));
  if (target.serviceAccount !== undefined && target.identity.mode !== 'kubelet') {
    out.push(serviceAccountObject(manifest, target, target.serviceAccount, facts));
  }
  out.push(secretProviderClassObject(manifest, target, facts));
  return out;
}

function objectKey(o: KubeObject): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/**
 * Every object of the manifest, in a stable order: Namespaces first, then per target its
 * ServiceAccount and SecretProviderClass, in manifest order (shared objects appear once), then the
 * RBAC of identity bindings (rbac.ts).
 */
export function renderAll(manifest: Manifest, facts: RenderFacts = {}): KubeObject[] {
  const namespaces: KubeObject[] = [];
  const rest: KubeObject[] = [];
  const seen = new Set<string>();
  for (const target of manifest.targets) {
    for (const o of renderTarget(manifest, target, facts)) {
      const key = objectKey(o);
      if (seen.has(key)) continue;
      seen.add(key);
      (o.kind === 'Namespace' ? namespaces : rest).push(o);
    }
  }
  return [...namespaces, ...rest, ...renderBindingRbac(manifest, (t) => clientIdFor(t, facts))];
}

/** Multi-document YAML with sorted keys: the same objects always give the same bytes. */
export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringifyForKube(o, { sortMapEntries: true })).join('---\n');
}
