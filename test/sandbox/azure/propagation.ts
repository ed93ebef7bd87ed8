// Azure-like propagation delays, scaled from Azure's documented minutes down to seconds so every
// wait the action needs is exercised without slowing a run by minutes (why these numbers:
// docs/sandbox-cli.md, "Propagation delays"). The world's own defaults stay 0 for unit and
// integration tests that measure something else; the demo (`sandbox up --azure-propagation`) and
// every e2e test file (test/e2e/azure-propagation.setup.ts) turn these on.

/** World knobs (PATCH /config). */
export const AZURE_LIKE_PROPAGATION = {
  /** Role assignment -> data plane: Azure documents "up to 10 minutes" for RBAC changes. */
  rbacPropagationMs: 4000,
  /** Federated credential -> Entra token exchange: "a few seconds" up to minutes. */
  ficPropagationMs: 2500,
  /** New managed identity -> visible to role assignments (PrincipalNotFound meanwhile). */
  principalVisibilityMs: 2000,
} as const;

/** Vault data plane (POST /vault/settle): a deleted object stays "being deleted" this long. */
export const AZURE_LIKE_DELETE_SETTLE_MS = 1000;

export type PropagationConfig = { [K in keyof typeof AZURE_LIKE_PROPAGATION]: number };

async function call<T>(control: string, method: string, path: string, body?: unknown): Promise<T> {
  const send = (): Promise<Response> =>
    fetch(new URL(path, control), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  // A pooled keep-alive socket the control server already closed fails once ("other side closed");
  // every call here sets absolute values, so sending it again is safe.
  const res = await send().catch(() => send());
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * Turns the Azure-like delays on through the control API; returns how to put back what was there
 * (world knobs and every vault's delete settle time).
 */
export async function useAzurePropagation(control: string): Promise<() => Promise<void>> {
  const before = (await call<{ config: PropagationConfig }>(control, 'GET', '/config')).config;
  const vaults = await call<Array<{ name: string; settle: { deleteMs: number } }>>(control, 'GET', '/vault/vaults');
  await call(control, 'PATCH', '/config', AZURE_LIKE_PROPAGATION);
  await call(control, 'POST', '/vault/settle', { deleteMs: AZURE_LIKE_DELETE_SETTLE_MS });
  return async () => {
    await call(control, 'PATCH', '/config', { rbacPropagationMs: before.rbacPropagationMs, ficPropagationMs: before.ficPropagationMs, principalVisibilityMs: before.principalVisibilityMs });
    for (const v of vaults) await call(control, 'POST', '/vault/settle', { vault: v.name, deleteMs: v.settle.deleteMs });
  };
}
