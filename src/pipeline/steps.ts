// The heavy steps of the pipeline (the Azure and Kubernetes steps), loaded with a dynamic import once
// the login request is on the wire, so that the process reaches its first request without parsing
// them first. The bundler emits this as a separate chunk; the Azure SDKs are chunks of their own,
// loaded by the first write (src/auth/arm.ts).
export { auditIssue, runAudit } from '../audit/index.ts';
export { runCleanup } from '../cleanup/index.ts';
export { runGate } from '../gate/index.ts';
export { ensureIdentities, proveAccess } from '../identity/index.ts';
export { proveBindingAccess } from '../identity/prove-binding.ts';
export { startIdentityReads } from '../identity/reads.ts';
export { applyKubeObjects, startOwnedObjects } from '../kube/apply.ts';
export { bindingAudienceProblem } from '../kube/csidriver.ts';
export { ledgerBook } from '../ledger/store.ts';
export { connectKube, readServiceAccountIssuer, serviceAccountToken } from '../kube/client.ts';
export { restartChangedWorkloads } from '../rotate/index.ts';
export { currentVersions, describeVault, syncSecrets } from '../vault/index.ts';
