import { describe, expect, it } from '@jest/globals';
import { grantFailure, IdentityError } from '../../../src/identity/index.ts';

// An error shaped as the ARM SDK throws it (RestError with code and the parsed body).
function armError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, statusCode: code === 'AuthorizationFailed' ? 403 : 400, details: { error: { code, message } } });
}

const scope = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one';

describe('grantFailure', () => {
  it('names role, identity, scope and code, and says what to do about the limit', () => {
    const e = grantFailure(armError('RoleAssignmentLimitExceeded', 'No more role assignments can be created for subscription s (limit 4000).'), 'Key Vault Secrets User', 'id-c1-app', scope);
    expect(e).toBeInstanceOf(IdentityError);
    expect(e.message).toBe(
      `role assignment Key Vault Secrets User for id-c1-app at ${scope} was refused (RoleAssignmentLimitExceeded): No more role assignments can be created for subscription s (limit 4000).; ` +
        'the subscription has reached its role-assignment limit: remove unused assignments, or grant at vault scope instead of per secret (access.scope: vault)',
    );
  });

  it('points at the missing right when the workflow identity may not grant', () => {
    const e = grantFailure(armError('AuthorizationFailed', 'The client does not have authorization.'), 'Key Vault Secrets User', 'id-c1-app', scope);
    expect(e.message).toContain('(AuthorizationFailed)');
    expect(e.message).toContain('Role Based Access Control Administrator');
  });

  it('keeps an unknown code without inventing a fix', () => {
    const e = grantFailure(armError('SomethingNew', 'odd'), 'Key Vault Secrets User', 'id-c1-app', scope);
    expect(e.message).toBe(`role assignment Key Vault Secrets User for id-c1-app at ${scope} was refused (SomethingNew): odd`);
    expect((e as Error & { cause?: unknown }).cause).toBeInstanceOf(Error);
  });
});
