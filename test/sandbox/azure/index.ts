// The local Azure of the sandbox: world + GitHub OIDC issuer + Entra + ARM + control API, then
// the Key Vault part (vault/index.ts) on the same world.
import { HOST, PORTS } from '../ports.ts';
import { ensureCa, issueServerCert } from '../pki.ts';
import type { RunningPart, SandboxContext } from '../types.ts';
import { startArm } from './arm/index.ts';
import { startControl } from './control.ts';
import { startEntra } from './entra.ts';
import { idTokenRequestUrl, startGithubOidc } from './github-oidc.ts';
import type { RunningServer } from './http.ts';
import { startVault } from './vault/index.ts';
import { World } from './world.ts';

export { World } from './world.ts';

export async function startAzure(ctx: SandboxContext): Promise<RunningPart> {
  const log = (m: string): void => ctx.log('azure', m);
  const ca = ensureCa(ctx.pkiDir);
  const cert = issueServerCert(ctx.pkiDir, 'azure');
  const world = new World();
  const servers: RunningServer[] = [];
  let vault: RunningPart | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (vault) await vault.stop();
    for (const s of servers.reverse()) await s.close();
  };
  try {
    servers.push(await startGithubOidc(world, cert, log));
    servers.push(await startEntra(world, cert, ca.cert, log));
    servers.push(await startArm(world, cert, log));
    servers.push(await startControl(world, log));
    log(`GitHub OIDC https://${HOST}:${PORTS.githubOidc}, Entra https://${HOST}:${PORTS.entra}, ARM https://${HOST}:${PORTS.arm}, control http://${HOST}:${PORTS.control}`);
    ctx.shared.world = world;
    Object.assign(ctx.env, {
      ACTIONS_ID_TOKEN_REQUEST_URL: idTokenRequestUrl(world),
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: world.idTokenRequestToken,
      AKV_AKS_AUTHORITY_HOST: world.authorityHost,
      AKV_AKS_ARM_ENDPOINT: world.armEndpoint,
      AKV_AKS_SANDBOX_CONTROL: `http://${HOST}:${PORTS.control}`,
      AKV_AKS_SANDBOX_TENANT_ID: world.tenantId,
      AKV_AKS_SANDBOX_SUBSCRIPTION_ID: world.subscriptionId,
      AKV_AKS_SANDBOX_CLIENT_ID: '11111111-1111-1111-1111-111111111111',
      AKV_AKS_SANDBOX_GITHUB_ISSUER: world.githubIssuer,
      // The GitHub REST simulator (github-rest.ts), as GitHub Enterprise Server lays out its API.
      GITHUB_API_URL: `${world.githubIssuer}/api/v3`,
    });
    vault = await startVault(ctx, world);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: 'azure', stop };
}
