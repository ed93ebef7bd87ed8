import type { RunningPart, SandboxContext } from '../types.ts';

export async function startAzure(_ctx: SandboxContext): Promise<RunningPart> {
  throw new Error('azure sandbox part not built yet');
}
