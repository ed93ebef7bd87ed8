// Proof before use: exchange each target's service-account token at Entra as the pod would, and read
// each mounted object from the vault with the resulting token. Propagation delays (a new federated
// credential: AADSTS70021; a new role: ForbiddenByRbac) are waited through until the timeout; then
// the failure is classified.
import * as runner from '../runner/index.ts';
import { msiClient } from '../auth/arm.ts';
import { errorCodes, messageOf, azureStatusOf } from '../auth/http.ts';
import { sleep } from '../util/concurrency.ts';
import { decodeJwtClaims, audienceText } from '../auth/jwt.ts';
import { clientAssertionCredential } from '../auth/entra-token.ts';
import { cachedCredential, reuseRecentAssertion } from '../auth/token-cache.ts';
import { FEDERATION_CODES } from '../auth/login.ts';
import type { AzureSession } from '../auth/login.ts';
import type { Manifest, MountedObject, TargetSpec } from '../manifest/types.ts';
import { objectReader } from '../keyvault/objects.ts';
import { VaultSecrets } from '../keyvault/secrets.ts';
import { serviceAccountSubject } from './plan.ts';
import { identityOf, planProof, type ProofTarget } from './prove-plan.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { maskValue } from '../runner/mask.ts';
import type { NamespaceIdentity } from './model.ts';

export type ProofCause = 'binding-not-allowed' | 'federation-mismatch' | 'issuer-unreachable' | 'missing-role' | 'missing-secret' | 'unknown-identity' | 'other';

export class ProofError extends Error {
  /** The classified cause. */
  readonly kind: ProofCause;
  readonly namespace: string;
  readonly serviceAccount: string;
  constructor(cause: ProofCause, namespace: string, serviceAccount: string, message: string, error?: unknown) {
    super(message, error === undefined ? undefined : { cause: error });
    this.name = 'ProofError';
    this.kind = cause;
    this.namespace = namespace;
    this.serviceAccount = serviceAccount;
  }
}

interface Attempt {
  ok: boolean;
  error?: unknown;
  object?: string;
  /** The failed object's type (keys and certificates are read through their own APIs). */
  objectType?: string;
  token?: string;
}

/** Classifies a failed attempt (pure; exported for tests). */
export function classifyProofError(e: unknown): ProofCause {
  const codes = errorCodes(e);
  if (FEDERATION_CODES.some((c) => codes.includes(c))) return 'federation-mismatch';
  if (codes.includes('AADSTS50166') || codes.includes('AADSTS50027')) return 'issuer-unreachable';
  if (codes.includes('AADSTS700016') || codes.includes('AADSTS7000229')) return 'unknown-identity';
  const status = azureStatusOf(e);
  if (status === 403 || codes.some((c) => /^Forbidden/.test(c))) return 'missing-role';
  if (status === 404 || ['SecretNotFound', 'KeyNotFound', 'CertificateNotFound'].some((c) => codes.includes(c))) return 'missing-secret';
  return 'other';
}

async function describeFederation(session: AzureSession, t: TargetSpec): Promise<string> {
  if (t.identity.mode !== 'managed' && t.identity.mode !== 'existing') return 'the identity is external: check its federated credentials where it is managed';
  try {
    const msi = await msiClient(session, t.identity.subscriptionId ?? session.subscriptionId);
    const lines: string[] = [];
    for await (const c of msi.federatedIdentityCredentials.list(t.identity.resourceGroup, t.identity.name)) {
      lines.push(`${c.name}: issuer ${JSON.stringify(c.issuer)}, subject ${JSON.stringify(c.subject)}, audiences ${JSON.stringify(c.audiences)}`);
    }
    return lines.length ? `federated credentials on ${t.identity.name}: ${lines.join('; ')}` : `identity ${t.identity.name} has no federated credentials`;
  } catch (e) {
    return `(could not list the federated credentials of ${t.identity.name}: ${messageOf(e).split('\n')[0]})`;
  }
}

/** What every target's proof shares. */
interface ProofRun {
  session: AzureSession;
  vault: VaultInfo;
  tenantId: string;
  identities: NamespaceIdentity[];
  getToken: (namespace: string, serviceAccount: string) => Promise<string>;
  deadline: number;
}

export async function proveAccess(
  session: AzureSession,
  vault: VaultInfo,
  manifest: Manifest,
  identities: NamespaceIdentity[],
  getToken: (namespace: string, serviceAccount: string) => Promise<string>,
  opts: { timeoutMs: number; targets?: ProofTarget[] },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  // Default: every object of every target (prove-access: always); the pipeline passes planProof's choice.
  const proofs = opts.targets ?? planProof('always', { targets: manifest.targets, identities, items: [], cluster: manifest.cluster.name, vaultName: vault.name });
  const run: ProofRun = { session, vault, tenantId: vault.tenantId || session.tenantId, identities, getToken, deadline };
  await Promise.all(proofs.map((p) => proveTarget(run, p)));
}

/** The pod's credential: its service-account token exchanged at Entra; `lastToken` is the token last presented. */
function podCredential(run: ProofRun, t: TargetSpec, sa: string, clientId: string): { credential: ReturnType<typeof cachedCredential>; lastToken: () => string | undefined } {
  let lastToken: string | undefined;
  const saToken = reuseRecentAssertion(async () => {
    const token = await run.getToken(t.namespace, sa);
    runner.setSecret(token);
    return token;
  });
  // Cached: the secret and object clients share one exchange of the pod's token.
  const credential = cachedCredential(
    clientAssertionCredential({
      tenantId: run.tenantId,
      clientId,
      authorityHost: run.session.cloud.authorityHost,
      assertion: async () => {
        lastToken = await saToken();
        return lastToken;
      },
    }),
  );
  return { credential, lastToken: () => lastToken };
}

/** The vault's readers, both as the pod's credential. */
interface PodReaders {
  client: VaultSecrets;
  objectsApi: ReturnType<typeof objectReader>;
}

/** One pass over the objects not read yet; stops at the first failure. */
async function readPending({ client, objectsApi }: PodReaders, objects: readonly MountedObject[], pending: Set<string>, lastToken: () => string | undefined): Promise<Attempt> {
  for (const o of objects) {
    const k = `${o.secret}@${o.version ?? ''}`;
    if (!pending.has(k)) continue;
    try {
      if (o.objectType === 'key' || o.objectType === 'cert') {
        // As the provider reads them: GET /keys|certificates/{name}[/{version}] (no private material).
        await objectsApi.version(o.objectType === 'key' ? 'keys' : 'certificates', o.secret, o.version);
      } else {
        const s = await client.getSecret(o.secret, o.version ? { version: o.version } : undefined);
        if (s.value !== undefined) maskValue(s.value);
      }
      pending.delete(k);
    } catch (e) {
      return { ok: false, error: e, object: o.secret, objectType: o.objectType, token: lastToken() };
    }
  }
  return { ok: true };
}

/** Reads the target's objects as its pod would, retrying through propagation delays until the deadline. */
async function proveTarget(run: ProofRun, { target: t, objects }: ProofTarget): Promise<void> {
  const sa = t.serviceAccount as string;
  const ident = identityOf(run.identities, t);
  const clientId = ident?.clientId ?? (t.identity.mode === 'external' ? t.identity.clientId : undefined);
  if (!clientId) throw new ProofError('unknown-identity', t.namespace, sa, `no client id known for the identity of ${t.namespace}/${sa}`);
  const { credential, lastToken } = podCredential(run, t, sa, clientId);
  const readers: PodReaders = { client: new VaultSecrets(credential, run.session.cloud, run.vault.uri), objectsApi: objectReader(credential, run.session.cloud, run.vault.uri) };
  const pending = new Set(objects.map((o) => `${o.secret}@${o.version ?? ''}`));
  let delay = 1_000;
  let last: Attempt = { ok: false };
  for (let attempt = 1; ; attempt++) {
    last = await readPending(readers, objects, pending, lastToken);
    if (last.ok) {
      runner.info(`proof: ${t.namespace}/${sa} read ${objects.length} object(s) from ${run.vault.name} as ${clientId}${attempt > 1 ? ` after ${attempt} attempts` : ''}`);
      return;
    }
    const cause = classifyProofError(last.error);
    if (Date.now() + delay > run.deadline) break;
    runner.info(`proof: ${t.namespace}/${sa}: ${cause} (${errorCodes(last.error).join(', ') || azureStatusOf(last.error) || 'error'}); retrying in ${delay / 1000}s`);
    await sleep(delay);
    delay = Math.min(8_000, delay * 2);
  }
  throw await explain(run.session, run.vault, t, sa, clientId, last);
}

/** How a message names a mounted object of a type: `key signing`, `certificate tls`, `secret db`. */
const objectWord = (type: string | undefined): string => (type === 'key' ? 'key' : type === 'cert' ? 'certificate' : 'secret');
const policyWord = (type: string | undefined): string => (type === 'key' ? 'keys' : type === 'cert' ? 'certificates' : 'secrets');

async function explain(session: AzureSession, vault: VaultInfo, t: TargetSpec, sa: string, clientId: string, last: Attempt): Promise<ProofError> {
  const e = last.error;
  const cause = classifyProofError(e);
  const who = `${t.namespace}/${sa}`;
  switch (cause) {
    case 'federation-mismatch': {
      const claims = last.token ? decodeJwtClaims(last.token) : undefined;
      const expectedSubject = serviceAccountSubject(t.namespace, sa);
      const presented = claims
        ? `the service-account token presents issuer ${JSON.stringify(claims.iss)}, subject ${JSON.stringify(claims.sub)}, audience ${JSON.stringify(audienceText(claims.aud))}`
        : 'the service-account token could not be decoded';
      return new ProofError(
        cause,
        t.namespace,
        sa,
        `proof failed for ${who}: Microsoft Entra found no federated credential matching the token (${errorCodes(e)
          .filter((c) => FEDERATION_CODES.includes(c))
          .join(', ')}); ${presented}; ` + `expected subject ${JSON.stringify(expectedSubject)}; ${await describeFederation(session, t)}. Issuer and subject must match byte for byte.`,
        e,
      );
    }
    case 'missing-role':
      return new ProofError(
        cause,
        t.namespace,
        sa,
        `proof failed for ${who}: the identity ${clientId} may not read ${objectWord(last.objectType)} ${last.object ?? '?'} from ${vault.name} (${errorCodes(e).join(', ') || '403'}); ` +
          (vault.rbac ? `it needs ${t.access.role} at ${t.access.scope === 'vault' ? 'the vault' : 'each object'} scope` : `it needs an access policy with get on ${policyWord(last.objectType)}`),
        e,
      );
    case 'missing-secret':
      return new ProofError(cause, t.namespace, sa, `proof failed for ${who}: ${objectWord(last.objectType)} ${last.object ?? ''} not found in ${vault.name}`, e);
    case 'issuer-unreachable': {
      const iss = last.token ? decodeJwtClaims(last.token)?.iss : undefined;
      return new ProofError(
        cause,
        t.namespace,
        sa,
        `proof failed for ${who}: Microsoft Entra could not fetch the signing keys of the cluster's service-account issuer ${JSON.stringify(iss ?? '(unknown)')} ` +
          `(${errorCodes(e)
            .filter((c) => c.startsWith('AADSTS'))
            .join(', ')}): the issuer's /.well-known/openid-configuration and JWKS must be publicly reachable ` +
          `(enable the cluster's OIDC issuer)`,
        e,
      );
    }
    case 'unknown-identity':
      return new ProofError(cause, t.namespace, sa, `proof failed for ${who}: Microsoft Entra does not know the identity ${clientId} (${errorCodes(e).join(', ')})`, e);
    default:
      return new ProofError(cause, t.namespace, sa, `proof failed for ${who}: ${messageOf(e).split('\n')[0]?.slice(0, 300)}`, e);
  }
}
