// Pure: classify why a pod did not mount what it should, from the CSI driver's FailedMount event
// messages (the Azure provider's wording), the pod's container states and the rollout conditions.
import type { TargetSpec } from '../manifest/types.ts';
import { bindingNotAllowedFix } from '../identity/bindings.ts';

export type DiagnosisCause =
  | 'federation-mismatch'
  | 'binding-not-allowed'
  | 'binding-token-missing'
  | 'missing-role'
  | 'missing-secret'
  | 'driver-missing'
  | 'crash-loop'
  | 'stale-version'
  | 'not-mounted'
  | 'rollout-stuck'
  | 'timeout'
  | 'unknown';

export interface Diagnosis {
  cause: DiagnosisCause;
  message: string;
  fix: string;
  namespace?: string;
  pod?: string;
}

/** Strings the provider quotes from Entra's AADSTS70021 answer. */
export interface PresentedAssertion {
  issuer?: string;
  subject?: string;
  audience?: string;
}

function quoted(message: string, label: string): string | undefined {
  // Entra: "Assertion Issuer: 'https://…'." — the quotes may arrive JSON-escaped.
  const text = message.replace(/\\u0027/g, "'").replace(/\\'/g, "'");
  const m = new RegExp(`${label}:\\s*'([^']*)'`, 'i').exec(text);
  return m?.[1];
}

export function presentedAssertion(message: string): PresentedAssertion {
  return {
    issuer: quoted(message, 'Assertion Issuer'),
    subject: quoted(message, 'Assertion Subject'),
    audience: quoted(message, 'Assertion Audience'),
  };
}

/** The object a provider error names, when it names one: its kind (as a word) and name. */
function objectNamed(message: string): { word: 'secret' | 'key' | 'certificate'; name: string } | undefined {
  const typed = /objectType:\s*(\w+), objectName:\s*([0-9A-Za-z-]+)/.exec(message);
  if (typed) return { word: typed[1] === 'key' ? 'key' : typed[1] === 'cert' ? 'certificate' : 'secret', name: typed[2]! };
  const fromUrl = /\/(secrets|keys|certificates)\/([0-9A-Za-z-]+)/.exec(message);
  if (fromUrl) return { word: fromUrl[1] === 'keys' ? 'key' : fromUrl[1] === 'certificates' ? 'certificate' : 'secret', name: fromUrl[2]! };
  const name = /objectName:\s*([0-9A-Za-z-]+)/.exec(message)?.[1] ?? /secret with \(name\/id\) ([0-9A-Za-z-]+)/i.exec(message)?.[1];
  return name ? { word: 'secret', name } : undefined;
}

/** Per kind: the RBAC data action the provider's read needs, and the access-policy permission list. */
const READS: Record<'secret' | 'key' | 'certificate', { action: string; policy: string }> = {
  secret: { action: 'secrets/getSecret/action', policy: 'secret' },
  key: { action: 'keys/read', policy: 'key' },
  certificate: { action: 'certificates/read', policy: 'certificate' },
};

function subjectFor(target: TargetSpec | undefined): string | undefined {
  return target?.serviceAccount ? `system:serviceaccount:${target.namespace}:${target.serviceAccount}` : undefined;
}

export interface MountFailureContext {
  namespace?: string;
  pod?: string;
  /** The target whose SecretProviderClass failed (for the expected subject and the vault). */
  target?: TargetSpec;
  vault?: string;
  /** The cluster's service-account issuer, when known. */
  issuer?: string;
}

/**
 * Identity-binding mounts (useAzureTokenProxy): the provider found no `api://AKSIdentityBinding`
 * token (the CSIDriver does not request it), or the AKS token proxy refused the service account
 * because no RBAC rule grants it `use-managed-identity` on the identity's client id.
 */
function classifyBindingFailure(message: string, who: string): Classified | undefined {
  if (/token for audience api:\/\/AKSIdentityBinding not found/.test(message)) {
    return {
      cause: 'binding-token-missing',
      message: 'failed to parse service account token for identity binding, error: token for audience api://AKSIdentityBinding not found',
      fix: 'add the audience api://AKSIdentityBinding to spec.tokenRequests of CSIDriver secrets-store.csi.k8s.io (the driver chart does from v1.8.0), then restart the pod',
    };
  }
  const refused = /[^"\n]*not allowed to use-managed-identity[^"\n]*/.exec(message)?.[0];
  if (refused !== undefined) {
    const clientId = /use-managed-identity ([0-9a-fA-F-]{36})/.exec(refused)?.[1] ?? '<client-id>';
    return {
      cause: 'binding-not-allowed',
      message: `the AKS token proxy refused ${who}: ${refused.trim()}`,
      fix: bindingNotAllowedFix(clientId),
    };
  }
  return undefined;
}

/** A diagnosis before it is tied to a pod. */
type Classified = Omit<Diagnosis, 'namespace' | 'pod'>;

/** How a diagnosis names the failing identity and vault. */
interface Wording {
  who: string;
  vault: string;
  ctx: MountFailureContext;
}

/** AADSTS70021: the presented token matches no federated credential; quote what Entra saw. */
function classifyFederationMismatch(message: string, { who, ctx }: Wording): Classified | undefined {
  if (!/AADSTS70021/.test(message)) return undefined;
  const p = presentedAssertion(message);
  const expectedSubject = subjectFor(ctx.target);
  const parts = [`AADSTS70021: no federated identity credential matches the token of ${who}`];
  if (p.issuer !== undefined) parts.push(`presented issuer '${p.issuer}'`);
  if (p.subject !== undefined) parts.push(`presented subject '${p.subject}'`);
  if (p.audience !== undefined) parts.push(`presented audience '${p.audience}'`);
  if (ctx.issuer !== undefined && p.issuer !== undefined && ctx.issuer !== p.issuer) parts.push(`cluster issuer '${ctx.issuer}'`);
  const fixIssuer = p.issuer ?? ctx.issuer ?? "the cluster's service-account issuer (az aks show --query oidcIssuerProfile.issuerUrl)";
  const fixSubject = p.subject ?? expectedSubject ?? 'system:serviceaccount:<namespace>:<service-account>';
  return {
    cause: 'federation-mismatch',
    message: parts.join('; '),
    fix: `the identity's federated credential must have issuer '${fixIssuer}' and subject '${fixSubject}' byte for byte (case and trailing slash included) with audience api://AzureADTokenExchange; run the action in apply mode to write it, or correct oidcIssuer in the manifest`,
  };
}

/** Other Entra refusals of the exchange: unknown client id, tenant or credential. */
function classifyExchangeRefused(message: string, { who }: Wording): Classified | undefined {
  if (!/AADSTS700016|AADSTS700213|AADSTS7000215|AADSTS70011|AADSTS90002/.test(message)) return undefined;
  const code = /AADSTS\d+/.exec(message)?.[0] ?? 'AADSTS';
  return {
    cause: 'federation-mismatch',
    message: `${code}: Microsoft Entra refused the token exchange for ${who}`,
    fix: "check the service account's azure.workload.identity/client-id annotation and the SecretProviderClass clientID name the identity the action federated, and the tenant id",
  };
}

/** The vault answered 403: a missing role assignment or access policy. */
function classifyForbidden(message: string, { vault }: Wording): Classified | undefined {
  if (!/ForbiddenByRbac|ForbiddenByPolicy|\b403\b|does not have secrets? get permission|Caller is not authorized/i.test(message)) return undefined;
  const object = objectNamed(message);
  const policy = /ForbiddenByPolicy|access polic|does not have (secrets?|keys?|certificates?) get permission/i.test(message);
  const kind = object?.word ?? 'secret';
  const role = kind === 'secret' ? '"Key Vault Secrets User"' : `a role with ${READS[kind].action} ("Key Vault Certificate User" reads secrets, keys and certificates)`;
  return {
    cause: 'missing-role',
    message: `${vault} refused to read ${object ? `${object.word} ${object.name}` : 'a mounted object'} (${policy ? 'access policy' : 'RBAC'}: 403)`,
    fix: policy
      ? `grant the identity an access policy with ${READS[kind].policy} get permission on ${vault} (run the action in apply mode)`
      : `assign ${role} to the identity at the vault${object ? ` or ${object.word} ${object.name}` : ''} scope (run the action in apply mode); new assignments take a few minutes to propagate`,
  };
}

/** The vault answered 404 for a mounted object (not for the SecretProviderClass). */
function classifyMissingObject(message: string, { vault }: Wording): Classified | undefined {
  if (!/SecretNotFound|KeyNotFound|CertificateNotFound|was not found in this key vault|\b404\b/i.test(message) || /SecretProviderClass/i.test(message)) return undefined;
  const object = objectNamed(message);
  return {
    cause: 'missing-secret',
    message: `${object ? `${object.word} ${object.name}` : 'a mounted object'} does not exist in ${vault} (or the pinned version does not)`,
    fix:
      object?.word === 'key' || object?.word === 'certificate'
        ? `create the ${object.word} in ${vault} (the action never writes keys or certificates), or fix its name, objectType and objectVersion pin`
        : `declare the secret in the manifest (or create it in ${vault}) and check objectVersion pins`,
  };
}

function classifyDriverMissing(message: string): Classified | undefined {
  if (!/not found in the list of registered CSI drivers|driver name secrets-store\.csi\.k8s\.io not found|provider not found|failed to find provider/i.test(message)) return undefined;
  return {
    cause: 'driver-missing',
    message: 'the Secrets Store CSI driver (or its Azure provider) is not running on the node',
    fix: 'enable the azure-keyvault-secrets-provider add-on (az aks enable-addons --addons azure-keyvault-secrets-provider) or install the driver and the Azure provider',
  };
}

function classifyMissingProviderClass(message: string): Classified | undefined {
  if (!/SecretProviderClass[^ ]* "[^"]*" not found|failed to get secretproviderclass/i.test(message)) return undefined;
  return {
    cause: 'not-mounted',
    message: 'the pod references a SecretProviderClass that does not exist in its namespace',
    fix: "check the volume's secretProviderClass attribute against the manifest's secretProviderClass names, and run the action in apply mode",
  };
}

/** Tried in order; the first that recognises the message wins. */
const CLASSIFIERS: ReadonlyArray<(message: string, wording: Wording) => Classified | undefined> = [
  (message, { who }) => classifyBindingFailure(message, who),
  classifyFederationMismatch,
  classifyExchangeRefused,
  classifyForbidden,
  classifyMissingObject,
  classifyDriverMissing,
  classifyMissingProviderClass,
];

/**
 * Classifies one FailedMount message. Only names, ids and the strings Entra echoes (issuer, subject,
 * audience) are copied into the diagnosis; secret values never appear in these messages.
 */
export function classifyMountFailure(message: string, ctx: MountFailureContext = {}): Diagnosis {
  const base = { namespace: ctx.namespace, pod: ctx.pod };
  const wording: Wording = {
    who: ctx.target?.serviceAccount ? `service account ${ctx.target.namespace}/${ctx.target.serviceAccount}` : 'the pod identity',
    vault: ctx.vault ? `vault ${ctx.vault}` : 'the vault',
    ctx,
  };
  for (const classify of CLASSIFIERS) {
    const found = classify(message, wording);
    if (found) return { ...base, ...found };
  }
  return {
    ...base,
    cause: 'unknown',
    message: oneLine(message, 300),
    fix: 'read the FailedMount event (kubectl describe pod) and the CSI driver / provider logs',
  };
}

/**
 * The part of a FailedMount message worth a table cell: the driver's wrapping removed, and for
 * provider errors the object plus Entra's AADSTS sentence or the vault's status and error codes.
 */
export function summarizeMountMessage(message: string, max = 300): string {
  const flat = oneLine(message, 100_000);
  const object = /objectType:(\w+), objectName:([0-9A-Za-z-]+)/.exec(flat);
  const prefix = object ? `${object[1]} ${object[2]}: ` : '';
  const aad = /AADSTS\d+:[^"\\]*/.exec(flat);
  if (aad) return oneLine(`${prefix}${aad[0].trim()}`, max);
  const status = /RESPONSE (\d{3})/.exec(flat)?.[1];
  if (status) {
    const codes = [...flat.matchAll(/"code"\s*:\s*"([A-Za-z]+)"|ERROR CODE: ([A-Za-z]+)/g)].map((m) => m[1] ?? m[2]);
    return oneLine(`${prefix}HTTP ${status} ${[...new Set(codes)].join(' / ')}`.trim(), max);
  }
  const tail = flat.replace(/^.*?failed to mount objects, error: /, '').replace(/^MountVolume\.SetUp failed for volume "[^"]*" : /, '');
  return oneLine(tail, max);
}

/** A multi-line message on one line (whitespace collapsed), bounded, for tables. */
export function oneLine(message: string, max = 400): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function crashLoop(namespace: string, pod: string, container: string): Diagnosis {
  return {
    cause: 'crash-loop',
    namespace,
    pod,
    message: `container ${container} is in CrashLoopBackOff`,
    fix: `read its logs (kubectl logs -n ${namespace} ${pod} -c ${container} --previous); the secrets mounted, the application fails to start`,
  };
}

export function dedupe(list: readonly Diagnosis[]): Diagnosis[] {
  const seen = new Set<string>();
  const out: Diagnosis[] = [];
  for (const d of list) {
    const key = `${d.cause}|${d.namespace ?? ''}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}
