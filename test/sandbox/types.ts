// Contract between the sandbox supervisor (cli.ts) and its parts (azure/, kube/).

export interface SandboxContext {
  /** Absolute path of the repository root. */
  root: string;
  /** Absolute path of `.sandbox/` (git-ignored): state, logs, pki, env files. */
  stateDir: string;
  /** Absolute path of `.sandbox/pki` (see pki.ts). */
  pkiDir: string;
  /** Absolute path of `.cache/` (git-ignored): downloads and builds kept across runs. */
  cacheDir: string;
  /** Progress line on stderr, prefixed with the component. */
  log(component: string, message: string): void;
  /** Variables exported to `.sandbox/env.json` / `env.sh` for the action and the tests. */
  env: Record<string, string>;
  /** Values shared between parts started earlier and later (e.g. the Azure world for the kubelet). */
  shared: Record<string, unknown>;
}

export interface RunningPart {
  name: string;
  /** Stops every process and server of the part; idempotent. */
  stop(): Promise<void>;
}
