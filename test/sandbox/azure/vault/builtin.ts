// Backend of the proxy that serves every vault from the in-process engine (store.ts for
// secrets, objects.ts for keys and certificates).
import type { VaultRecord } from '../world-api.ts';
import { badParameter } from './errors.ts';
import type { BackendAnswer, BackendRequest, VaultBackend } from './proxy.ts';
import { KeyCertStore } from './objects.ts';
import { SecretStore, type StoreOptions } from './store.ts';

function storeOptions(v: VaultRecord): StoreOptions {
  return { softDelete: v.enableSoftDelete, retentionDays: v.softDeleteRetentionInDays, purgeProtection: v.enablePurgeProtection };
}

export class BuiltinBackend implements VaultBackend {
  readonly kind = 'builtin' as const;
  private readonly stores = new Map<string, SecretStore>();

  store(name: string): SecretStore | undefined {
    return this.stores.get(name.toLowerCase());
  }

  async ensureVault(v: VaultRecord): Promise<void> {
    const s = this.stores.get(v.name.toLowerCase());
    if (s) {
      s.options = storeOptions(v);
      if (s.others) s.others.options = storeOptions(v);
    } else {
      const secrets = new SecretStore(storeOptions(v));
      secrets.others = new KeyCertStore(storeOptions(v), secrets);
      this.stores.set(v.name.toLowerCase(), secrets);
    }
  }

  async dropVault(name: string): Promise<void> {
    this.stores.delete(name.toLowerCase());
  }

  async clearVault(v: VaultRecord): Promise<void> {
    this.stores.get(v.name.toLowerCase())?.clear();
  }

  async serve(v: VaultRecord, req: BackendRequest): Promise<BackendAnswer> {
    await this.ensureVault(v);
    const store = this.stores.get(v.name.toLowerCase()) as SecretStore;
    let body: unknown;
    const text = req.body.toString('utf8');
    let answer;
    if (text.trim().length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        answer = badParameter('The request body is not valid JSON.');
      }
    }
    answer ??= store.handle({ method: req.method, pathname: req.pathname, query: new URLSearchParams(req.search), body }, v.vaultUri);
    const headers: Record<string, string> = { ...(answer.headers ?? {}) };
    let payload = Buffer.alloc(0);
    if (answer.body !== undefined) {
      payload = Buffer.from(JSON.stringify(answer.body));
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    return { status: answer.status, headers, body: payload };
  }

  async stop(): Promise<void> {
    this.stores.clear();
  }
}
