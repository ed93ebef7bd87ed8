// GitHub OIDC → Microsoft Entra login through the action's getIDToken (src/runner/id-token.ts) against
// the sandbox's GitHub issuer and Entra simulator.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { getIDToken } from '../../../src/runner/index.ts';
import { resolveCloud } from '../../../src/auth/cloud.ts';
import { LoginError, login } from '../../../src/auth/login.ts';
import { decodeJwtClaims } from '../../../src/auth/jwt.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { control, sandboxEnv } from '../../support/sandbox.ts';

jest.setTimeout(60_000);

const env = sandboxEnv();
const saved: Record<string, string | undefined> = {};
let capture: ReturnType<typeof captureStdout>;

const base = () => ({
  clientId: env.AKV_AKS_SANDBOX_CLIENT_ID ?? '',
  tenantId: env.AKV_AKS_SANDBOX_TENANT_ID ?? '',
  subscriptionId: env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? '',
  cloud: resolveCloud('AzureCloud', env),
});

beforeAll(() => {
  capture = captureStdout();
  for (const k of ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN']) {
    saved[k] = process.env[k];
    process.env[k] = env[k];
  }
});

afterAll(() => {
  capture?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('login', () => {
  it('logs in with the runner token; a second resource right after presents the same fresh assertion (one GitHub request per acquisition)', async () => {
    const seen: string[] = [];
    const session = await login({
      ...base(),
      getIdToken: async (aud) => {
        const t = await getIDToken(aud);
        seen.push(t);
        return t;
      },
    });
    expect(session.tenantId).toBe(env.AKV_AKS_SANDBOX_TENANT_ID);
    const afterLogin = seen.length;
    expect(afterLogin).toBeGreaterThanOrEqual(1);
    const claims = decodeJwtClaims(seen[0] ?? '');
    expect(claims).toMatchObject({ aud: 'api://AzureADTokenExchange', sub: 'repo:contoso/payments:ref:refs/heads/main', iss: env.AKV_AKS_SANDBOX_GITHUB_ISSUER });
    // A second resource needs a new Entra token; the assertion fetched for the login is seconds old,
    // so it serves again (auth/token-cache.ts; its unit test covers the fresh fetch after the window).
    const vaultToken = await session.credential.getToken(`https://${session.cloud.vaultDnsSuffix}/.default`);
    expect(vaultToken?.token).toBeTruthy();
    expect(seen.length).toBe(afterLogin);
    expect(new Set(seen).size).toBe(seen.length); // each one freshly minted (own jti)
    expect(visibleLog(capture.text())).not.toContain(seen[0]);
    expect(capture.text()).toContain(`::add-mask::${seen[0]}`);
  });

  it('explains a missing id-token: write permission', async () => {
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    try {
      const err = await login(base()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LoginError);
      expect((err as LoginError).kind).toBe('missing-id-token-permission');
      expect((err as Error).message).toMatch(/id-token: write/);
    } finally {
      process.env.ACTIONS_ID_TOKEN_REQUEST_URL = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    }
  });

  it('names the presented subject and the credential to create when none matches (AADSTS70021 family)', async () => {
    const { value } = await control<{ value: string }>('POST', '/github/token', { audience: 'api://AzureADTokenExchange', event: 'pull_request' });
    const err = await login({ ...base(), getIdToken: async () => value }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    const e = err as LoginError;
    expect(e.kind).toBe('no-matching-federated-credential');
    expect(e.presented).toEqual({ iss: env.AKV_AKS_SANDBOX_GITHUB_ISSUER, sub: 'repo:contoso/payments:pull_request', aud: 'api://AzureADTokenExchange' });
    expect(e.message).toMatch(/AADSTS7002\d*/);
    expect(e.message).toContain('"repo:contoso/payments:pull_request"');
    expect(e.message).toContain(`az ad app federated-credential create --id ${env.AKV_AKS_SANDBOX_CLIENT_ID}`);
    expect(e.message).not.toContain(value);
  });

  it('explains an unknown client id', async () => {
    const err = await login({ ...base(), clientId: '99999999-9999-9999-9999-999999999999' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('unknown-client');
  });

  it('rejects malformed inputs before any request', async () => {
    await expect(login({ ...base(), subscriptionId: 'not-a-guid' })).rejects.toMatchObject({ kind: 'invalid-input' });
  });
});
