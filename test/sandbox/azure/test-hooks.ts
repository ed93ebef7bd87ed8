// Test-side helpers that change the shared sandbox world only as much as a test needs and put it
// back afterwards (no POST /reset: other suites may be using the same sandbox).
import { control } from '../../support/sandbox.ts';
import type { AzureWorld, Fault, RequestRecord } from './world-api.ts';
import type { GithubTokenSettings } from './world.ts';

export interface ConfigSnapshot {
  config: AzureWorld['config'];
  github: GithubTokenSettings;
}

const added: string[] = [];

export function configSnapshot(): Promise<ConfigSnapshot> {
  return control<ConfigSnapshot>('GET', '/config');
}

export async function restoreConfig(s: ConfigSnapshot): Promise<void> {
  await control('PATCH', '/config', { ...s.config, github: s.github });
}

/** Adds a fault and remembers its id for removeFaults(). */
export async function addFault(f: Omit<Fault, 'id' | 'times'> & { times?: number }): Promise<string> {
  const { id } = await control<{ id: string }>('POST', '/faults', f);
  added.push(id);
  return id;
}

/** Removes the faults this process added that were not spent. */
export async function removeFaults(): Promise<void> {
  const pending = new Set((await control<{ faults: Fault[] }>('GET', '/faults')).faults.map((f) => f.id));
  for (const id of added.splice(0)) if (pending.has(id)) await control('DELETE', `/faults/${id}`);
}

/** Request records since `mark` (from recordMark) for a service, optionally only paths matching `path`. */
export async function recordsSince(mark: number, service: RequestRecord['service'], path?: RegExp): Promise<RequestRecord[]> {
  const { records } = await control<{ records: RequestRecord[] }>('GET', '/stats');
  return records.filter((r) => r.seq >= mark && r.service === service && (!path || path.test(r.path)));
}
