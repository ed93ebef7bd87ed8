import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException } from '@kubernetes/client-node';
import { connectKube, errorSummary, KubeConfigError, kubeStatusOf } from '../../../src/kube/client.ts';

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: { server: "https://127.0.0.1:1111", insecure-skip-tls-verify: true }
- name: two
  cluster: { server: "https://127.0.0.1:2222", insecure-skip-tls-verify: true }
users:
- name: u
  user: { token: not-a-real-token }
contexts:
- name: ctx-one
  context: { cluster: one, user: u }
- name: ctx-two
  context: { cluster: two, user: u }
current-context: ctx-one
`;

describe('connectKube', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'));
    file = join(dir, 'config');
    writeFileSync(file, kubeconfig);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the current context of the given kubeconfig', () => {
    const s = connectKube({ kubeconfig: file });
    expect(s.context).toBe('ctx-one');
    expect(s.server).toBe('https://127.0.0.1:1111');
  });

  it('selects the context input', () => {
    const s = connectKube({ kubeconfig: file, context: 'ctx-two' });
    expect(s.context).toBe('ctx-two');
    expect(s.server).toBe('https://127.0.0.1:2222');
  });

  it('reads KUBECONFIG when no file is given', () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file;
    try {
      expect(connectKube({}).server).toBe('https://127.0.0.1:1111');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('names the known contexts when the context does not exist', () => {
    expect(() => connectKube({ kubeconfig: file, context: 'nope' })).toThrow(KubeConfigError);
    expect(() => connectKube({ kubeconfig: file, context: 'nope' })).toThrow(/ctx-one, ctx-two/);
  });

  it('fails clearly on a missing file', () => {
    expect(() => connectKube({ kubeconfig: join(dir, 'missing') })).toThrow(/cannot load kubeconfig/);
  });
});

describe('errorSummary', () => {
  it('uses the status and the API message', () => {
    const err = new ApiException(404, 'nope', JSON.stringify({ kind: 'Status', message: 'namespaces "x" not found' }), {});
    expect(kubeStatusOf(err)).toBe(404);
    expect(errorSummary(err)).toBe('HTTP 404: namespaces "x" not found');
  });
  it('falls back to the first line of the error message', () => {
    expect(errorSummary(new Error('boom\nmore'))).toBe('boom');
    expect(kubeStatusOf(new Error('x'))).toBeUndefined();
  });
});
