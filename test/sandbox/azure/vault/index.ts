// STUB written by the Azure-world engineer so startAzure can import it; the vault engineer
// replaces this file with the lowkey-vault launcher and the per-vault authorization proxies.
import type { RunningPart, SandboxContext } from '../../types.ts';
import type { AzureWorld } from '../world-api.ts';

export async function startVault(ctx: SandboxContext, _world: AzureWorld): Promise<RunningPart> {
  ctx.log('vault', 'vault part not built yet (stub): no Key Vault data plane');
  return { name: 'vault (stub)', stop: async () => {} };
}
