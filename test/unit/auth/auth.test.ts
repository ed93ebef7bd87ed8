import { describe, expect, it } from '@jest/globals';
import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { isCloudVaultHost, resolveCloud } from '../../../src/auth/cloud.ts';
import { errorCodes, hasCode, retryWhile, throttleBackoffMs, throttleWithoutRetryAfterPolicy } from '../../../src/auth/http.ts';
import { decodeJwtClaims } from '../../../src/auth/jwt.ts';
import { diagnoseLoginError, suggestedCredentialName } from '../../../src/auth/login.ts';

const jwt = (claims: object): string => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

describe('resolveCloud', () => {
  it('knows the three clouds and their CSI names', () => {
    const pub = resolveCloud('AzureCloud', {});
    expect(pub).toMatchObject({ authorityHost: 'https://login.microsoftonline.com', armEndpoint: 'https://management.azure.com', vaultDnsSuffix: 'vault.azure.net', csiCloudName: 'AzurePublicCloud' });
    expect(resolveCloud('azureusgovernment', {})).toMatchObject({ name: 'AzureUSGovernment', vaultDnsSuffix: 'vault.usgovcloudapi.net', csiCloudName: 'AzureUSGovernmentCloud' });
    expect(resolveCloud('AzureChinaCloud', {})).toMatchObject({ armScope: 'https://management.chinacloudapi.cn/.default', vaultDnsSuffix: 'vault.azure.cn' });
    expect(resolveCloud('AzurePublicCloud', {}).name).toBe('AzureCloud');
    expect(() => resolveCloud('AzureGermanCloud', {})).toThrow(/unknown Azure cloud/);
  });

  it('takes https endpoint overrides from the environment and refuses http', () => {
    const c = resolveCloud('AzureCloud', { AKV_AKS_AUTHORITY_HOST: 'https://127.0.0.1:27011/', AKV_AKS_ARM_ENDPOINT: 'https://127.0.0.1:27012' });
    expect(c).toMatchObject({ authorityHost: 'https://127.0.0.1:27011', armEndpoint: 'https://127.0.0.1:27012', armScope: 'https://management.azure.com/.default' });
    expect(() => resolveCloud('AzureCloud', { AKV_AKS_ARM_ENDPOINT: 'http://127.0.0.1:27012' })).toThrow(/https/);
    expect(() => resolveCloud('AzureCloud', { AKV_AKS_AUTHORITY_HOST: 'not a url' })).toThrow(/not a URL/);
  });

  it('tells cloud vault hosts from others', () => {
    const c = resolveCloud('AzureCloud', {});
    expect(isCloudVaultHost(c, 'https://kv-x.vault.azure.net/')).toBe(true);
    expect(isCloudVaultHost(c, 'https://127.0.0.1:27100/')).toBe(false);
    expect(isCloudVaultHost(c, 'https://evilvault.azure.net/')).toBe(false);
  });
});

describe('login diagnosis', () => {
  const ctx = { clientId: '11111111-1111-1111-1111-111111111111', tenantId: 'tenant', audience: 'api://AzureADTokenExchange' };

  it('explains a missing id-token: write permission', () => {
    const e = diagnoseLoginError(new Error('Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable'), ctx);
    expect(e.kind).toBe('missing-id-token-permission');
    expect(e.message).toMatch(/id-token: write/);
  });

  it('names the presented issuer/subject/audience and the credential to create on AADSTS70021', () => {
    const token = jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:contoso/payments:pull_request', aud: 'api://AzureADTokenExchange' });
    const err = Object.assign(new Error('ClientAssertionCredential authentication failed. AADSTS70021: No matching federated identity record found for presented assertion.'), {
      name: 'AuthenticationError',
    });
    const e = diagnoseLoginError(err, { ...ctx, lastAssertion: token });
    expect(e.kind).toBe('no-matching-federated-credential');
    expect(e.presented).toEqual({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:contoso/payments:pull_request', aud: 'api://AzureADTokenExchange' });
    expect(e.message).toContain('"repo:contoso/payments:pull_request"');
    expect(e.message).toContain('az ad app federated-credential create --id 11111111-1111-1111-1111-111111111111');
    expect(e.message).toContain('"issuer":"https://token.actions.githubusercontent.com"');
    expect(e.message).not.toContain(token);
    expect(suggestedCredentialName('repo:contoso/payments:environment:prod')).toBe('github-contoso-payments-environment-prod');
  });

  it('classifies unknown clients', () => {
    expect(diagnoseLoginError({ message: 'AADSTS700016: Application not found' }, ctx).kind).toBe('unknown-client');
    expect(diagnoseLoginError(new Error('boom'), ctx).kind).toBe('other');
  });
});

describe('error codes', () => {
  it('collects RestError codes, body codes, inner errors and AADSTS codes', () => {
    const rest = { statusCode: 403, code: 'Forbidden', response: { status: 403, bodyAsText: '{"error":{"code":"Forbidden","innererror":{"code":"ForbiddenByRbac"}}}' } };
    expect(errorCodes(rest).sort()).toEqual(['Forbidden', 'ForbiddenByRbac']);
    expect(hasCode({ errors: [{ message: 'x AADSTS70021 y' }] }, 'AADSTS70021')).toBe(true);
    expect(hasCode({ code: 'RoleAssignmentExists' }, 'roleassignmentexists')).toBe(true);
    expect(hasCode({ message: 'The role assignment already exists.' }, 'RoleAssignmentExists')).toBe(false);
  });

  it('decodes JWT claims without the signature, and rejects non-JWTs', () => {
    expect(decodeJwtClaims(jwt({ sub: 's', aud: ['a', 'b'] }))).toEqual({ sub: 's', aud: ['a', 'b'] });
    expect(decodeJwtClaims('nope')).toBeUndefined();
  });
});

describe('throttling without Retry-After', () => {
  const response = (status: number, headers: Record<string, string> = {}): PipelineResponse => {
    const h = new Map(Object.entries(headers));
    return {
      status,
      request: {} as PipelineRequest,
      headers: {
        get: (k: string) => h.get(k.toLowerCase()),
        set: (k: string, v: string) => void h.set(k.toLowerCase(), v),
        has: (k: string) => h.has(k.toLowerCase()),
        delete: (k: string) => void h.delete(k.toLowerCase()),
        toJSON: () => Object.fromEntries(h),
        [Symbol.iterator]: () => h.entries(),
      },
    } as unknown as PipelineResponse;
  };

  it('gives a 429 without Retry-After a growing synthetic retry-after-ms, and leaves others alone', async () => {
    const policy = throttleWithoutRetryAfterPolicy();
    const req = {} as PipelineRequest;
    const r1 = await policy.sendRequest(req, async () => response(429));
    const r2 = await policy.sendRequest(req, async () => response(429));
    const d1 = Number(r1.headers.get('retry-after-ms'));
    const d2 = Number(r2.headers.get('retry-after-ms'));
    expect(d1).toBeGreaterThanOrEqual(1000);
    expect(d2).toBeGreaterThanOrEqual(2000);
    const withHeader = await policy.sendRequest(req, async () => response(429, { 'retry-after': '7' }));
    expect(withHeader.headers.get('retry-after-ms')).toBeUndefined();
    const ok = await policy.sendRequest(req, async () => response(200));
    expect(ok.headers.get('retry-after-ms')).toBeUndefined();
    expect(throttleBackoffMs(10, () => 0)).toBe(30_000);
  });

  it('retryWhile retries only retryable errors and gives up at the timeout', async () => {
    let n = 0;
    const v = await retryWhile(
      async () => {
        if (++n < 3) throw Object.assign(new Error('x'), { code: 'PrincipalNotFound' });
        return 'ok';
      },
      (e) => hasCode(e, 'PrincipalNotFound'),
      { timeoutMs: 5_000, firstDelayMs: 1 },
    );
    expect([v, n]).toEqual(['ok', 3]);
    await expect(
      retryWhile(
        async () => Promise.reject(new Error('fatal')),
        () => false,
        { timeoutMs: 5_000 },
      ),
    ).rejects.toThrow('fatal');
    let m = 0;
    await expect(
      retryWhile(
        async () => {
          m++;
          throw new Error('again');
        },
        () => true,
        { timeoutMs: 30, firstDelayMs: 10 },
      ),
    ).rejects.toThrow('again');
    expect(m).toBeGreaterThan(1);
    expect(m).toBeLessThan(6);
  });
});

describe('login errors keep their cause (issue 12)', () => {
  const ctx = { clientId: '11111111-1111-1111-1111-111111111111', tenantId: 'tenant', audience: 'api://AzureADTokenExchange' };

  it('the lines after "Failed to get ID Token." (HTTP status, socket error) stay in the one-line message', () => {
    const e = new Error('Failed to get ID Token. \n \n        Error Code : 503\n \n        Error Message: connect ECONNREFUSED 127.0.0.1:9');
    const msg = diagnoseLoginError(e, ctx).message;
    expect(msg).not.toContain('\n');
    expect(msg).toMatch(/Failed to get ID Token\. Error Code : 503 Error Message: connect ECONNREFUSED 127\.0\.0\.1:9$/);
  });

  it('codes and messages of nested causes are named', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const e = new Error('ClientAssertionCredential authentication failed.', { cause: Object.assign(new Error('request failed', { cause: socket }), { statusCode: 503 }) });
    expect(diagnoseLoginError(e, ctx).message).toBe(
      `Azure login failed for client ${ctx.clientId} in tenant tenant: ClientAssertionCredential authentication failed. (cause: 503; request failed; ECONNREFUSED; connect ECONNREFUSED 127.0.0.1:9)`,
    );
  });

  it('`constructor` is no cloud', () => {
    expect(() => resolveCloud('constructor', {})).toThrow(/unknown Azure cloud "constructor"/);
    expect(() => resolveCloud('__proto__', {})).toThrow(/unknown Azure cloud/);
  });
});
