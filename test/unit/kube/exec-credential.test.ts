// An exec credential plugin run for real (a small Node script standing in for kubelogin): what it is
// given (KUBERNETES_EXEC_INFO, its env), what is kept (one run shared, a new one near expiry) and
// how a failing or confused plugin is reported without its output.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecCredentialSource, parseExecCredential } from '../../../src/kube/exec-credential.ts';
import type { ExecPlugin } from '../../../src/kube/kubeconfig.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'exec-cred-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A plugin script: appends one line per run to `runs`, then does `body` (Node code). */
function plugin(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(join(dir, `${name}.runs`))}, 'run\\n');\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const runs = (name: string): number => {
  try {
    return readFileSync(join(dir, `${name}.runs`), 'utf8')
      .split('\n')
      .filter(Boolean).length;
  } catch {
    return 0;
  }
};

const spec = (command: string, extra: Partial<ExecPlugin> = {}): ExecPlugin => ({
  command,
  args: [],
  env: [],
  apiVersion: 'client.authentication.k8s.io/v1',
  baseDir: dir,
  provideClusterInfo: false,
  ...extra,
});

describe('ExecCredentialSource', () => {
  it('passes KUBERNETES_EXEC_INFO, the args and env, and shares one run between concurrent requests', async () => {
    const cmd = plugin(
      'echo-info',
      `const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
       process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: [info.kind, info.spec.interactive, info.spec.cluster && info.spec.cluster.server, process.argv[2], process.env.LOGIN_METHOD].join('|') } }));`,
    );
    const source = new ExecCredentialSource(spec(cmd, { args: ['get-token'], env: [{ name: 'LOGIN_METHOD', value: 'workloadidentity' }], provideClusterInfo: true }), 'https://aks.example');
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect(a.token).toBe('ExecCredential|false|https://aks.example|get-token|workloadidentity');
    expect(b).toBe(a);
    expect(runs('echo-info')).toBe(1);
  });

  it('runs the plugin again once its credential is about to expire, not before', async () => {
    const cmd = plugin('expiring', `process.stdout.write(JSON.stringify({ kind: 'ExecCredential', status: { token: 'tok', expirationTimestamp: new Date(Date.now() + 60000).toISOString() } }));`);
    const source = new ExecCredentialSource(spec(cmd), 'https://k');
    const first = await source.get();
    await source.get(Date.now() + 10_000);
    expect(runs('expiring')).toBe(1);
    await source.get((first.expiresAt ?? 0) - 1_000);
    expect(runs('expiring')).toBe(2);
  });

  it("reports a failing plugin by its stderr's first line, and runs it again on the next request", async () => {
    const cmd = plugin('failing', `process.stderr.write('kubelogin: no azure cli login found\\nmore detail\\n'); process.exit(1);`);
    const source = new ExecCredentialSource(spec(cmd), 'https://k');
    await expect(source.get()).rejects.toThrow(/exec plugin .*failing failed: kubelogin: no azure cli login found$/);
    await expect(source.get()).rejects.toThrow(/failed/);
    expect(runs('failing')).toBe(2);
  });
});

describe('parseExecCredential', () => {
  it('takes a token or a client certificate and key, with the expiry', () => {
    expect(parseExecCredential(JSON.stringify({ status: { token: 't', expirationTimestamp: '2030-01-01T00:00:00Z' } }), 'p')).toEqual({
      token: 't',
      cert: undefined,
      key: undefined,
      expiresAt: Date.parse('2030-01-01T00:00:00Z'),
    });
    const c = parseExecCredential(JSON.stringify({ status: { clientCertificateData: 'CERT', clientKeyData: 'KEY' } }), 'p');
    expect([c.cert?.toString(), c.key?.toString(), c.expiresAt]).toEqual(['CERT', 'KEY', undefined]);
  });

  it('refuses output that is not a credential without repeating it', () => {
    const secretish = 'eyJhbGciOi-not-json';
    const e = (() => {
      try {
        parseExecCredential(secretish, 'kubelogin');
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    expect(e?.message).toMatch(/printed no ExecCredential JSON/);
    expect(e?.message).not.toContain(secretish);
    expect(() => parseExecCredential(JSON.stringify({ status: { clientKeyData: 'KEY' } }), 'kubelogin')).toThrow(/neither a token nor a client certificate and key/);
  });
});
