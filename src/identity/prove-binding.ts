// Proof for bound targets: the AKS token proxy authorises a pod's service account with a
// SubjectAccessReview (verb use-managed-identity, group cid.wi.aks.azure.com, resource = client id)
// before it exchanges anything; the runner cannot reach the proxy, so it asks the cluster the same
// question, waiting through RBAC propagation until the deadline. Nothing is asked of Entra or the vault.
import * as runner from '../runner/index.ts';
import type { KubeSession } from '../kube/client.ts';
import { sleep } from '../util/concurrency.ts';
import { USE_MANAGED_IDENTITY_GROUP, USE_MANAGED_IDENTITY_VERB } from '../render/rbac.ts';
import { bindingNotAllowedFix } from './bindings.ts';
import type { BindingProof } from './prove-binding-plan.ts';
import { ProofError } from './prove.ts';

interface Review {
  allowed: boolean;
  reason?: string;
}

/** The token proxy's question for one service account and identity. */
async function reviewUse(kube: KubeSession, p: BindingProof): Promise<Review> {
  const sar = await kube.authorization.createSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${p.namespace}:${p.serviceAccount}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${p.namespace}`, 'system:authenticated'],
        resourceAttributes: { group: USE_MANAGED_IDENTITY_GROUP, resource: p.clientId, verb: USE_MANAGED_IDENTITY_VERB },
      },
    },
  });
  return { allowed: sar.status?.allowed === true, reason: sar.status?.reason || undefined };
}

const statusOf = (e: unknown): number | undefined => (e as { code?: number }).code;

/** `kube`: the run's session (the deployer's credentials; it needs create on subjectaccessreviews). */
export async function proveBindingAccess(kube: KubeSession, proofs: readonly BindingProof[], opts: { timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  await Promise.all(
    proofs.map(async (p) => {
      const who = `${p.namespace}/${p.serviceAccount}`;
      let delay = 1_000;
      for (let attempt = 1; ; attempt++) {
        let review: Review;
        try {
          review = await reviewUse(kube, p);
        } catch (e) {
          const why = statusOf(e) === 403 ? 'the deployer needs create on subjectaccessreviews (authorization.k8s.io)' : (e as Error).message.split('\n')[0];
          throw new ProofError('other', p.namespace, p.serviceAccount, `proof failed for ${who}: cannot ask the cluster whether it may use-managed-identity ${p.clientId}: ${why}`, e);
        }
        if (review.allowed) {
          runner.info(`proof: ${who} may use-managed-identity ${p.clientId} (the AKS token proxy's check)${attempt > 1 ? ` after ${attempt} attempts` : ''}`);
          return;
        }
        if (Date.now() + delay > deadline) {
          throw new ProofError(
            'binding-not-allowed',
            p.namespace,
            p.serviceAccount,
            `proof failed for ${who}: the AKS token proxy would refuse service account ${who}: system:serviceaccount:${p.namespace}:${p.serviceAccount} is not allowed to use-managed-identity ${p.clientId} (${USE_MANAGED_IDENTITY_GROUP}): no RBAC rule grants it${review.reason ? ` (${review.reason})` : ''}; ${bindingNotAllowedFix(p.clientId)}`,
          );
        }
        runner.info(`proof: ${who}: not yet allowed to use-managed-identity ${p.clientId}; retrying in ${delay / 1000}s`);
        await sleep(delay);
        delay = Math.min(8_000, delay * 2);
      }
    }),
  );
}
