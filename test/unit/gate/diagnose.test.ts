import { describe, expect, it } from '@jest/globals';
import { classifyMountFailure, presentedAssertion, summarizeMountMessage } from '../../../src/gate/diagnose.ts';
import { obj, target } from '../rotate/helpers.ts';
import { azcoreResponseError, azidentityAuthError, failedMountMessage, objectTypeError, providerFailure } from '../../sandbox/kube/csi.ts';
import type { KeyVaultObject } from '../../sandbox/kube/csi.ts';

// Fixtures in the exact texts the real driver, provider and Azure SDK for Go produce: the
// format functions live in the CSI stand-in, which cites kubernetes-sigs/secrets-store-csi-driver
// @ 0aad886f70e94a6037325f4eaba4660338dde448 and Azure/secrets-store-csi-driver-provider-azure
// @ d5f7cf5b598c2eede99ad3683de0ba10f7a8736b next to each format (test/sandbox/kube/csi.ts).
const wrap = (provider: string): string => failedMountMessage('secrets', providerFailure('payments', 'api-1', provider));
const secret = (name: string): KeyVaultObject => ({ objectName: name, objectType: 'secret', objectVersion: '' });

// provider auth.go:220 azidentity.NewClientAssertionCredential -> AuthenticationFailedError around Entra's answer
const aadsts70021 = wrap(
  objectTypeError(
    secret('db-password'),
    azidentityAuthError(
      'ClientAssertionCredential',
      {
        method: 'POST',
        url: 'https://127.0.0.1:27011/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
        status: 400,
        statusText: 'Bad Request',
        body: JSON.stringify({
          error: 'invalid_request',
          error_description:
            "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://127.0.0.1:27643'. Assertion Subject: 'system:serviceaccount:payments:api'. Assertion Audience: 'api://AzureADTokenExchange'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation Trace ID: t Correlation ID: c Timestamp: 2026-01-01 00:00:00Z",
          error_codes: [70021],
        }),
      },
      'client-assertion',
    ),
  ),
);

// the provider's GetSecret -> azcore ResponseError around Key Vault's 403
const rbac = wrap(
  objectTypeError(
    secret('db-password'),
    azcoreResponseError({
      method: 'GET',
      url: 'https://127.0.0.1:27100/secrets/db-password/?api-version=7.6',
      status: 403,
      statusText: 'Forbidden',
      errorCodeHeader: 'Forbidden',
      body: JSON.stringify({ error: { code: 'Forbidden', message: 'Caller is not authorized to perform action on resource.', innererror: { code: 'ForbiddenByRbac' } } }),
    }),
  ),
);

const notFound = wrap(
  objectTypeError(
    secret('api-key'),
    azcoreResponseError({
      method: 'GET',
      url: 'https://127.0.0.1:27100/secrets/api-key/?api-version=7.6',
      status: 404,
      statusText: 'Not Found',
      errorCodeHeader: 'SecretNotFound',
      body: JSON.stringify({
        error: {
          code: 'SecretNotFound',
          message:
            'A secret with (name/id) api-key was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182',
        },
      }),
    }),
  ),
);

const t = target({ namespace: 'payments', secretProviderClass: 'payments-secrets', serviceAccount: 'api', objects: [obj('db-password')] });

describe('summarizeMountMessage', () => {
  it('keeps the object and the AADSTS sentence', () => {
    expect(summarizeMountMessage(aadsts70021)).toMatch(
      /^secret db-password: AADSTS70021: No matching federated identity record found for presented assertion\. Assertion Issuer: 'https:\/\/127\.0\.0\.1:27643'/,
    );
  });
  it('keeps the status and error codes of a vault answer', () => {
    expect(summarizeMountMessage(rbac)).toBe('secret db-password: HTTP 403 Forbidden / ForbiddenByRbac');
    expect(summarizeMountMessage(notFound)).toBe('secret api-key: HTTP 404 SecretNotFound');
  });
  it('drops the driver wrapping otherwise', () => {
    expect(summarizeMountMessage(wrap('error connecting to provider "azure"'))).toBe('error connecting to provider "azure"');
  });
});

describe('classifyMountFailure', () => {
  it('AADSTS70021 → federation mismatch, quoting the presented issuer and subject', () => {
    const d = classifyMountFailure(aadsts70021, { namespace: 'payments', pod: 'api-1', target: t, issuer: 'https://127.0.0.1:27643/' });
    expect(d.cause).toBe('federation-mismatch');
    expect(d.message).toContain("presented issuer 'https://127.0.0.1:27643'");
    expect(d.message).toContain("presented subject 'system:serviceaccount:payments:api'");
    expect(d.message).toContain("cluster issuer 'https://127.0.0.1:27643/'");
    expect(d.fix).toContain("issuer 'https://127.0.0.1:27643' and subject 'system:serviceaccount:payments:api'");
    expect(d.pod).toBe('api-1');
  });

  it('reads JSON-escaped quotes too', () => {
    const p = presentedAssertion(`AADSTS70021: x. Assertion Issuer: \\u0027https://a/\\u0027. Assertion Subject: \\u0027s\\u0027.`);
    expect(p).toEqual({ issuer: 'https://a/', subject: 's', audience: undefined });
  });

  it('ForbiddenByRbac / 403 → missing role naming the secret', () => {
    const d = classifyMountFailure(rbac, { vault: 'kv-sandbox' });
    expect(d.cause).toBe('missing-role');
    expect(d.message).toContain('secret db-password');
    expect(d.message).toContain('RBAC');
    expect(d.fix).toContain('Key Vault Secrets User');
  });

  it('a key or certificate the role cannot read: named by kind, with the data action it needs', () => {
    const keyRbac = rbac.replace('objectType:secret, objectName:db-password', 'objectType:key, objectName:signing').replace('/secrets/db-password/', '/keys/signing/');
    const d = classifyMountFailure(keyRbac, { vault: 'kv-sandbox' });
    expect(d.cause).toBe('missing-role');
    expect(d.message).toBe('vault kv-sandbox refused to read key signing (RBAC: 403)');
    expect(d.fix).toContain('a role with keys/read ("Key Vault Certificate User" reads secrets, keys and certificates)');
    expect(d.fix).toContain('at the vault or key signing scope');
    const certPolicy = wrap(
      objectTypeError(
        { objectName: 'tls', objectType: 'cert', objectVersion: '' },
        azcoreResponseError({
          method: 'GET',
          url: 'https://127.0.0.1:27101/certificates/tls/?api-version=7.6',
          status: 403,
          statusText: 'Forbidden',
          errorCodeHeader: 'Forbidden',
          body: JSON.stringify({
            error: {
              code: 'Forbidden',
              message:
                "The user, group or application 'appid=x;oid=y' does not have certificates get permission on key vault 'kv-legacy;location=eastus'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
              innererror: { code: 'ForbiddenByPolicy' },
            },
          }),
        }),
      ),
    );
    const p = classifyMountFailure(certPolicy, { vault: 'kv-legacy' });
    expect(p.message).toBe('vault kv-legacy refused to read certificate tls (access policy: 403)');
    expect(p.fix).toContain('access policy with certificate get permission');
  });

  it('a missing key is not declared in the manifest but created in the vault', () => {
    const d = classifyMountFailure(notFound.replace('objectType:secret, objectName:api-key', 'objectType:key, objectName:signing').replace(/SecretNotFound/g, 'KeyNotFound'));
    expect(d.cause).toBe('missing-secret');
    expect(d.message).toContain('key signing does not exist');
    expect(d.fix).toContain('create the key in the vault (the action never writes keys or certificates)');
  });

  it('access policies get an access-policy fix', () => {
    const d = classifyMountFailure(wrap('ERROR CODE: Forbidden "innererror":{"code":"ForbiddenByPolicy"}'), { vault: 'kv-legacy' });
    expect(d.cause).toBe('missing-role');
    expect(d.fix).toContain('access policy');
  });

  it('SecretNotFound → missing secret', () => {
    const d = classifyMountFailure(notFound);
    expect(d.cause).toBe('missing-secret');
    expect(d.message).toContain('secret api-key');
  });

  it('driver and provider missing', () => {
    expect(classifyMountFailure('driver name secrets-store.csi.k8s.io not found in the list of registered CSI drivers').cause).toBe('driver-missing');
    expect(classifyMountFailure(wrap('error connecting to provider "azure": provider not found: provider "azure"')).cause).toBe('driver-missing');
  });

  it('a missing SecretProviderClass is not a missing secret', () => {
    // driver utils.go:95, as the stand-in emits it
    const d = classifyMountFailure(
      failedMountMessage('secrets', 'rpc error: code = Unknown desc = failed to get secretproviderclass payments/x, error: secretproviderclasses.secrets-store.csi.x-k8s.io "x" not found'),
    );
    expect(d.cause).toBe('not-mounted');
  });

  it('anything else is unknown, on one bounded line', () => {
    const d = classifyMountFailure('something\nodd happened');
    expect(d.cause).toBe('unknown');
    expect(d.message).toBe('something odd happened');
  });
});
