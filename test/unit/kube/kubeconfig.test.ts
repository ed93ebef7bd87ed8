// The kubeconfig as kubectl reads it: merged KUBECONFIG files (the first naming an entry wins),
// file paths relative to the file that names them, each way a user authenticates, and a one-line
// error for what the action does not support.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { KubeConfigError, kubeconfigFiles, loadClusterAccess } from '../../../src/kube/kubeconfig.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, doc: unknown): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
  return file;
}

const config = (o: { current?: string; clusters?: unknown[]; users?: unknown[]; contexts?: unknown[] }): unknown => ({
  apiVersion: 'v1',
  kind: 'Config',
  ...(o.current ? { 'current-context': o.current } : {}),
  clusters: o.clusters ?? [],
  users: o.users ?? [],
  contexts: o.contexts ?? [],
});

describe('loadClusterAccess', () => {
  it('reads CA and client certificate data, a token and the TLS options of the current context', () => {
    const file = write(
      'inline.yaml',
      config({
        current: 'aks',
        clusters: [{ name: 'c', cluster: { server: 'https://aks.example:443/', 'certificate-authority-data': b64('CA PEM'), 'tls-server-name': 'kubernetes' } }],
        users: [{ name: 'u', user: { 'client-certificate-data': b64('CERT PEM'), 'client-key-data': b64('KEY PEM'), token: 't0k3n' } }],
        contexts: [{ name: 'aks', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const a = loadClusterAccess({ kubeconfig: file });
    expect(a).toMatchObject({ context: 'aks', cluster: 'c', server: 'https://aks.example:443', tlsServerName: 'kubernetes', insecureSkipTlsVerify: false, auth: { kind: 'token', token: 't0k3n' } });
    expect(a.ca?.toString()).toBe('CA PEM');
    expect(a.cert?.toString()).toBe('CERT PEM');
    expect(a.key?.toString()).toBe('KEY PEM');
  });

  it('resolves file paths against the directory of the kubeconfig that names them', () => {
    write('sub/ca.crt', 'CA FROM FILE');
    write('sub/token', 'file-token\n');
    const file = write(
      'sub/config',
      config({
        current: 'x',
        clusters: [{ name: 'c', cluster: { server: 'https://k', 'certificate-authority': 'ca.crt' } }],
        users: [{ name: 'u', user: { tokenFile: 'token' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const a = loadClusterAccess({ kubeconfig: file });
    expect(a.ca?.toString()).toBe('CA FROM FILE');
    expect(a.auth).toEqual({ kind: 'token-file', path: join(dir, 'sub', 'token') });
  });

  it('merges KUBECONFIG files as kubectl does: the first current-context and the first entry of a name win', () => {
    const first = write('merge/a', config({ current: 'one', clusters: [{ name: 'c', cluster: { server: 'https://first' } }], contexts: [{ name: 'one', context: { cluster: 'c', user: 'u' } }] }));
    const second = write(
      'merge/b',
      config({
        current: 'two',
        clusters: [{ name: 'c', cluster: { server: 'https://second' } }],
        users: [{ name: 'u', user: { username: 'admin', password: 'pw' } }],
        contexts: [{ name: 'two', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const env = { KUBECONFIG: [first, join(dir, 'merge', 'missing'), second].join(delimiter) };
    expect(kubeconfigFiles(undefined, env)).toEqual([first, second]);
    const a = loadClusterAccess({}, env);
    expect(a).toMatchObject({ context: 'one', server: 'https://first', auth: { kind: 'basic', username: 'admin', password: 'pw' } });
    expect(loadClusterAccess({ context: 'two' }, env).server).toBe('https://first'); // cluster "c" of the first file
  });

  it('keeps an exec plugin (kubelogin) with its arguments, environment and API version', () => {
    const file = write(
      'exec.yaml',
      config({
        current: 'aks',
        clusters: [{ name: 'c', cluster: { server: 'https://k', 'insecure-skip-tls-verify': true } }],
        users: [
          {
            name: 'u',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1beta1',
                command: 'kubelogin',
                args: ['get-token', '--login', 'azurecli'],
                env: [{ name: 'AAD_LOGIN_METHOD', value: 'workloadidentity' }],
                provideClusterInfo: false,
              },
            },
          },
        ],
        contexts: [{ name: 'aks', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const a = loadClusterAccess({ kubeconfig: file });
    expect(a.insecureSkipTlsVerify).toBe(true);
    expect(a.auth).toEqual({
      kind: 'exec',
      plugin: {
        command: 'kubelogin',
        args: ['get-token', '--login', 'azurecli'],
        env: [{ name: 'AAD_LOGIN_METHOD', value: 'workloadidentity' }],
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        baseDir: dir,
        provideClusterInfo: false,
      },
    });
  });

  it('refuses an auth-provider user and a proxy-url cluster in one line naming what to do', () => {
    const provider = write(
      'provider.yaml',
      config({
        current: 'x',
        clusters: [{ name: 'c', cluster: { server: 'https://k' } }],
        users: [{ name: 'legacy', user: { 'auth-provider': { name: 'azure', config: { 'apiserver-id': 'x' } } } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'legacy' } }],
      }),
    );
    expect(() => loadClusterAccess({ kubeconfig: provider })).toThrow(KubeConfigError);
    expect(() => loadClusterAccess({ kubeconfig: provider })).toThrow(/"azure" auth-provider.*use-kubelogin/);
    const proxied = write(
      'proxy.yaml',
      config({ current: 'x', clusters: [{ name: 'c', cluster: { server: 'https://k', 'proxy-url': 'http://proxy:3128' } }], contexts: [{ name: 'x', context: { cluster: 'c' } }] }),
    );
    expect(() => loadClusterAccess({ kubeconfig: proxied })).toThrow(/proxy-url/);
  });

  it('says what is missing: no file, no current context, an unknown context, a context without a cluster', () => {
    expect(() => loadClusterAccess({ kubeconfig: join(dir, 'nope') })).toThrow(/cannot load kubeconfig/);
    const noCurrent = write('nocurrent.yaml', config({ clusters: [{ name: 'c', cluster: { server: 'https://k' } }], contexts: [{ name: 'x', context: { cluster: 'c' } }] }));
    expect(() => loadClusterAccess({ kubeconfig: noCurrent })).toThrow(/no current cluster.*aks-set-context/);
    expect(() => loadClusterAccess({ kubeconfig: noCurrent, context: 'y' })).toThrow(/no context "y" \(known: x\)/);
    const dangling = write('dangling.yaml', config({ current: 'x', contexts: [{ name: 'x', context: { cluster: 'gone' } }] }));
    expect(() => loadClusterAccess({ kubeconfig: dangling })).toThrow(/names no cluster with a server/);
    expect(() => loadClusterAccess({ kubeconfig: write('bad.yaml', 'clusters: [unclosed') })).toThrow(/cannot load kubeconfig .*bad\.yaml/);
  });
});
