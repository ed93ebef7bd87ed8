// Reads, from the text of the five reference guides, the facts the guide-parity tests check (their
// SecretProviderClasses, ServiceAccount and Namespace). The tests run on the project's own copy of
// these facts (test/fixtures/guides/facts.yaml); this reader only checks that copy against the
// guides when they are found beside the repository.
import { parse, parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../../src/render/render.ts';

export type Params = Record<string, string>;
export type MountSpec = Record<string, string>;

export interface GuideFacts {
  /** VM managed identity (method 1) and a user-assigned identity on the VMs (method 2). */
  vmIdentities: { secretProviderClasses: KubeObject[] };
  /** Microsoft Entra Workload ID; the guide's YAML lost its line breaks. */
  workloadId: { parameters: Params; objects: MountSpec[] };
  /** aad-pod-identity, with a synced Secret. */
  podIdentity: { usePodIdentity: string; keyvaultName: string; object: MountSpec; secretName: string; secretData: { key: string; objectName: string } };
  /** Workload ID with secretObjects for environment variables. */
  secretObjects: { secretProviderClass: KubeObject; serviceAccount: KubeObject; namespace: string };
  /** VM identity with userAssignedIdentityID, a secret and a key. */
  secretAndKey: { secretProviderClass: KubeObject };
}

/** Fenced code blocks of a markdown guide. */
function codeBlocks(text: string): string[] {
  return [...text.matchAll(/```[a-zA-Z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function heredocs(block: string): string[] {
  return [...block.matchAll(/<<EOF[^\n]*\n([\s\S]*?)\nEOF/g)].map((m) => m[1]!);
}

/** Kubernetes objects in YAML fenced blocks and in `cat <<EOF | kubectl apply -f -` heredocs. */
function guideObjects(text: string): KubeObject[] {
  const sources: string[] = [];
  for (const block of codeBlocks(text)) {
    const docs = heredocs(block);
    sources.push(...(docs.length > 0 ? docs : [block]));
  }
  const out: KubeObject[] = [];
  for (const src of sources) {
    if (!src.includes('kind: ')) continue;
    for (const doc of parseAllDocuments(src)) {
      try {
        const o = doc.toJS() as KubeObject | null;
        if (o && typeof o === 'object' && typeof o.kind === 'string') out.push(o);
      } catch {
        /* a shell block that merely mentions a kind */
      }
    }
  }
  return out;
}

const spcsOf = (text: string): KubeObject[] => guideObjects(text).filter((o) => o.kind === 'SecretProviderClass');

/** The objects parameter as a list of maps, empty values dropped (`objectVersion: ""` = latest). */
export function mounts(objects: string): MountSpec[] {
  const outer = parse(objects) as { array: string[] };
  return outer.array.map((s) => Object.fromEntries(Object.entries(parse(s) as MountSpec).filter(([, v]) => v !== '')));
}

/** The facts of all five guides, from their texts (the files have opaque names: found by a marker). */
export function readGuideFacts(texts: string[]): GuideFacts {
  const guide = (marker: string): string => {
    const found = texts.filter((g) => g.includes(marker));
    if (found.length !== 1) throw new Error(`${found.length} guides contain ${marker}`);
    return found[0]!;
  };

  // Workload ID guide: words run together ("objectType: secrettenantId:"), so match the provider's parameter names.
  const flat = /parameters:(.*?)-\s*Mount to Pod/s.exec(guide('azure-kv-name'))![1]!;
  const names = 'usePodIdentity|useVMManagedIdentity|userAssignedIdentityID|clientID|keyvaultName|cloudName|tenantId';
  const parameters: Params = Object.fromEntries([...flat.matchAll(new RegExp(`(${names}): "([^"]*)"`, 'g'))].map((m) => [m[1]!, m[2]!]));
  const objects = [...flat.matchAll(/objectName: ([\w-]+?)objectType: (secret|key|cert)/g)].map((m) => ({ objectName: m[1]!, objectType: m[2]! }));

  // aad-pod-identity guide: its gist is printed with line numbers; strip them.
  const spcText = /kind: SecretProviderClass([\s\S]*?)SecretProviderClass\.yaml hosted/.exec(guide('aadpodidbinding'))![1]!;
  const lines = spcText
    .split('\n')
    .map((l) => l.replace(/^\s*\d+ {1,2}/, ''))
    .join('\n');
  const param = (k: string): string => new RegExp(`^\\s*${k}: "([^"]*)"`, 'm').exec(lines)?.[1] ?? '';
  const object = /objectName: (\w+)\s*\n\s*objectType: (\w+)/.exec(lines)!;
  const data = /- key: (\w+)\s*\n\s*objectName: (\w+)/.exec(lines)!;

  const envGuide = guideObjects(guide('podinfo-csi'));

  return {
    vmIdentities: { secretProviderClasses: spcsOf(guide('azure-keyvault-provider-vm')) },
    workloadId: { parameters, objects },
    podIdentity: {
      usePodIdentity: param('usePodIdentity'),
      keyvaultName: param('keyvaultName'),
      object: { objectName: object[1]!, objectType: object[2]! },
      secretName: /secretName: ([\w-]+)/.exec(spcText)![1]!,
      secretData: { key: data[1]!, objectName: data[2]! },
    },
    secretObjects: {
      secretProviderClass: envGuide.find((o) => o.kind === 'SecretProviderClass')!,
      serviceAccount: envGuide.find((o) => o.kind === 'ServiceAccount')!,
      namespace: envGuide.find((o) => o.kind === 'Namespace')!.metadata.name,
    },
    secretAndKey: { secretProviderClass: spcsOf(guide('aks-demo-kv'))[0]! },
  };
}
