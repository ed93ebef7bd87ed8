import { describe, expect, it } from '@jest/globals';
import { classifyMountFailure, presentedAssertion, summarizeMountMessage } from '../../../src/gate/diagnose.ts';
import { obj, target } from '../rotate/helpers.ts';

const wrap = (provider: string): string =>
  `MountVolume.SetUp failed for volume "secrets" : rpc error: code = Unknown desc = failed to mount secrets store objects for pod payments/api-1, err: rpc error: code = Unknown desc = failed to mount objects, error: ${provider}`;

const aadsts70021 = wrap(`failed to get objectType:secret, objectName:db-password, objectVersion:: FromAssertion(): http call(https://127.0.0.1:27011/72f988bf/oauth2/v2.0/token)(POST) error: reply status code was 400:
{
  "error": "invalid_request",
  "error_description": "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://127.0.0.1:27643'. Assertion Subject: 'system:serviceaccount:payments:api'. Assertion Audience: 'api://AzureADTokenExchange'. https://docs.microsoft.com/azure/active-directory/develop/workload-identity-federation",
  "error_codes": [70021]
}`);

const rbac = wrap(`failed to get objectType:secret, objectName:db-password, objectVersion:: GET https://127.0.0.1:27100/secrets/db-password/
--------------------------------------------------------------------------------
RESPONSE 403: 403 Forbidden
ERROR CODE: Forbidden
--------------------------------------------------------------------------------
{
  "error": {
    "code": "Forbidden",
    "message": "Caller is not authorized to perform action on resource.",
    "innererror": { "code": "ForbiddenByRbac" }
  }
}
--------------------------------------------------------------------------------
`);

const notFound = wrap(`failed to get objectType:secret, objectName:api-key, objectVersion:: GET https://127.0.0.1:27100/secrets/api-key/
RESPONSE 404: 404 Not Found
ERROR CODE: SecretNotFound
{ "error": { "code": "SecretNotFound", "message": "A secret with (name/id) api-key was not found in this key vault." } }`);

const t = target({ namespace: 'payments', secretProviderClass: 'payments-secrets', serviceAccount: 'api', objects: [obj('db-password')] });

describe('summarizeMountMessage', () => {
  it('keeps the object and the AADSTS sentence', () => {
    expect(summarizeMountMessage(aadsts70021)).toMatch(/^secret db-password: AADSTS70021: No matching federated identity record found for presented assertion\. Assertion Issuer: 'https:\/\/127\.0\.0\.1:27643'/);
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
      "failed to get objectType:cert, objectName:tls, objectVersion:: The user, group or application 'appid=x' does not have certificates get permission on key vault 'kv-legacy'. ERROR CODE: Forbidden \"innererror\":{\"code\":\"ForbiddenByPolicy\"}",
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
    const d = classifyMountFailure('failed to get secretproviderclass payments/x, error: secretproviderclasses.secrets-store.csi.x-k8s.io "x" not found');
    expect(d.cause).toBe('not-mounted');
  });

  it('anything else is unknown, on one bounded line', () => {
    const d = classifyMountFailure('something\nodd happened');
    expect(d.cause).toBe('unknown');
    expect(d.message).toBe('something odd happened');
  });
});
