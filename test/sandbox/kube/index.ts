// The local AKS cluster of the sandbox: control plane (etcd, kube-apiserver, kube-controller-manager
// built from the Go module proxy by build.ts), cluster bootstrap (CRDs, CSIDriver, node, issuer
// discovery) and the kubelet/CSI stand-in with its control routes on 127.0.0.1:27014.
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { AzureWorld } from '../azure/world-api.ts';
import { ensureCa } from '../pki.ts';
import { HOST, PORTS } from '../ports.ts';
import type { RunningPart, SandboxContext } from '../types.ts';
import { CRD_DIR, NODE_NAME, bootstrapCluster } from './bootstrap.ts';
import { ensureKubeBinaries } from './build.ts';
import { caFetch } from './ca-fetch.ts';
import { handleKubeletControl, startKubeletControl } from './control.ts';
import { APISERVER_URL, startControlPlane } from './controlplane.ts';
import { managedIdentityTokenSource } from './imds.ts';
import { tokenProxySource } from './token-proxy.ts';
import type { World } from '../azure/world.ts';
import { Kubelet } from './kubelet.ts';
import { pooledConnections } from './pooled.ts';

export { NODE_NAME } from './bootstrap.ts';
export { APISERVER_URL, CLUSTER_NAME } from './controlplane.ts';

/**
 * Without an in-process world (the kube part started on its own next to a running Azure
 * supervisor), vaults are looked up through the control API's `GET /vault/vaults`.
 */
function vaultsThroughControl(base: string | undefined): (name: string) => Promise<string | undefined> {
  return async (name) => {
    if (!base) return undefined;
    try {
      const res = await fetch(new URL('/vault/vaults', base));
      if (!res.ok) return undefined;
      const list = (await res.json()) as Array<{ name: string; vaultUri: string }>;
      return list.find((v) => v.name.toLowerCase() === name.toLowerCase())?.vaultUri;
    } catch {
      return undefined;
    }
  };
}

export async function startKube(ctx: SandboxContext): Promise<RunningPart> {
  const log = (m: string): void => ctx.log('kube', m);
  const started = Date.now();
  const bins = await ensureKubeBinaries({ cacheDir: ctx.cacheDir, log: (m) => ctx.log('kube-build', m) });
  const world = ctx.shared.world as AzureWorld | undefined;
  if (!world) log('no Azure world in ctx.shared.world: vault mounts will fail (started with the Azure part stubbed?)');

  let stopped = false;
  let kubelet: Kubelet | undefined;
  let control: { close(): Promise<void> } | undefined;
  const plane = await startControlPlane({
    bins,
    dir: join(ctx.stateDir, 'kube'),
    pkiDir: ctx.pkiDir,
    log,
    onCrash: (name) => {
      if (!stopped) log(`${name} is down: the cluster is unusable until the sandbox restarts`);
    },
  });
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await control?.close();
    await kubelet?.stop();
    await plane.stop();
  };
  try {
    const kc = pooledConnections(new KubeConfig());
    kc.loadFromFile(plane.kubeconfig);
    await bootstrapCluster(kc, { crdDir: CRD_DIR, log });

    const authorityHost = ctx.env.AKV_AKS_AUTHORITY_HOST ?? (world as { authorityHost?: string } | undefined)?.authorityHost ?? `https://${HOST}:${PORTS.entra}`;
    kubelet = new Kubelet({
      kc,
      nodeName: NODE_NAME,
      log: (m) => ctx.log('kubelet', m),
      authorityHost,
      vaultUri: world ? (name) => world.vault(name)?.vaultUri : vaultsThroughControl(ctx.env.AKV_AKS_SANDBOX_CONTROL),
      managedIdentityToken: managedIdentityTokenSource(world),
      tokenProxy: tokenProxySource(kc, world as World | undefined),
      fetch: caFetch(ensureCa(ctx.pkiDir).cert),
    });
    await kubelet.start();
    const k = kubelet;
    control = await startKubeletControl(k, HOST, PORTS.kubelet);
    if (world && typeof world.registerControlRoute === 'function') {
      world.registerControlRoute('*', '/kube/', async (req) => handleKubeletControl(k, req.method, req.path.slice('/kube'.length), req.body));
    }
    ctx.env.KUBECONFIG = plane.kubeconfig;
    ctx.env.AKV_AKS_SANDBOX_KUBELET = `http://${HOST}:${PORTS.kubelet}`;
    ctx.env.AKV_AKS_SANDBOX_KUBE_API = APISERVER_URL;
    log(`cluster sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${APISERVER_URL}, kubeconfig ${plane.kubeconfig}, kubelet control ${ctx.env.AKV_AKS_SANDBOX_KUBELET}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'kube', stop };
}
