// Every e2e file runs with Azure-like propagation delays (RBAC, federated credentials, principal
// visibility, vault delete settle), so a wait the action lacks fails here as it would on Azure.
// A test that needs speed turns a knob down itself (PATCH /config) and says why.
import { afterAll, beforeAll } from '@jest/globals';
import { useAzurePropagation } from '../sandbox/azure/propagation.ts';
import { sandboxEnv } from '../support/sandbox.ts';

let restore: (() => Promise<void>) | undefined;

beforeAll(async () => {
  restore = await useAzurePropagation(sandboxEnv().AKV_AKS_SANDBOX_CONTROL!);
});

afterAll(async () => {
  await restore?.();
});
