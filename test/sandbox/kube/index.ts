import type { RunningPart, SandboxContext } from '../types.ts';

export async function startKube(_ctx: SandboxContext): Promise<RunningPart> {
  throw new Error('kube sandbox part not built yet');
}
