// The login starts before the manifest is parsed (its round trips overlap the parse) and says
// nothing until the pipeline's Login section finishes it: a local server plays Entra's token endpoint.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { resolveCloud } from '../../../src/auth/cloud.ts';
import { LoginError, login, startLogin } from '../../../src/auth/login.ts';
import type { LoginOptions } from '../../../src/auth/login.ts';
import { captureStdout } from '../../support/leaks.ts';
import { closeServers, json, serve } from '../../support/local-http.ts';

let capture: ReturnType<typeof captureStdout>;
beforeEach(() => {
  capture = captureStdout();
});
afterEach(async () => {
  capture.stop();
  await closeServers();
});

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const GITHUB_TOKEN = `${b64({ alg: 'RS256' })}.${b64({ sub: 'repo:contoso/payments:ref:refs/heads/main', aud: 'api://AzureADTokenExchange' })}.c2ln`;

function options(authorityHost: string, getIdToken: () => Promise<string>): LoginOptions {
  return {
    clientId: '11111111-1111-1111-1111-111111111111',
    tenantId: 'tenant-a',
    subscriptionId: '00000000-0000-0000-0000-00000000aaaa',
    cloud: { ...resolveCloud('AzureCloud', {}), authorityHost },
    getIdToken,
  };
}

/** What the runner would show: every line but the mask commands. */
const shown = (): string[] =>
  capture
    .text()
    .split('\n')
    .filter((l) => l && !l.startsWith('::add-mask::'));

describe('startLogin, then login', () => {
  it('exchanges the GitHub token before login is called, writes nothing shown meanwhile, and login uses that exchange', async () => {
    let exchanged!: () => void;
    const exchange = new Promise<void>((resolve) => (exchanged = resolve));
    const assertions: Array<string | null> = [];
    const host = await serve((_req, body, res) => {
      assertions.push(new URLSearchParams(body).get('client_assertion'));
      json(res, 200, { token_type: 'Bearer', access_token: 'arm-token', expires_in: 3599 });
      exchanged();
    });
    let asked = 0;
    const started = startLogin(
      options(host, async () => {
        asked++;
        return GITHUB_TOKEN;
      }),
    );
    await exchange;
    expect(asked).toBe(1);
    expect(shown()).toEqual([]);
    const session = await login(
      options(host, async () => {
        throw new Error('login must not ask again');
      }),
      started,
    );
    expect(session.clientId).toBe('11111111-1111-1111-1111-111111111111');
    expect(assertions).toEqual([GITHUB_TOKEN]);
    expect(shown().join('')).toContain('Logged in (GitHub subject repo:contoso/payments:ref:refs/heads/main)');
  });

  it('a failed exchange waits, handled, for login to diagnose it', async () => {
    const host = await serve((_req, _body, res) => json(res, 400, { error: 'invalid_client', error_description: 'AADSTS700016: Application not found in the directory', error_codes: [700016] }));
    const opts = options(host, async () => GITHUB_TOKEN);
    const started = startLogin(opts);
    await expect(login(opts, started)).rejects.toMatchObject({ kind: 'unknown-client' });
  });

  it('bad inputs send nothing and are reported by login', async () => {
    let asked = 0;
    const opts = {
      ...options('https://login.invalid', async () => {
        asked++;
        return GITHUB_TOKEN;
      }),
      subscriptionId: 'not-a-guid',
    };
    const started = startLogin(opts);
    const err = await login(opts, started).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('invalid-input');
    expect(asked).toBe(0);
  });
});
