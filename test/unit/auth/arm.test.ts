// ARM clients are shared per session and subscription (a client is only its request pipeline).
import { describe, expect, it } from '@jest/globals';
import { authorizationClient, keyVaultManagementClient, msiClient } from '../../../src/auth/arm.ts';
import { resolveCloud } from '../../../src/auth/cloud.ts';
import type { AzureSession } from '../../../src/auth/login.ts';

const session = (): AzureSession => ({
  credential: { getToken: () => Promise.reject(new Error('no request expected')) },
  cloud: resolveCloud('AzureCloud', {}),
  tenantId: 't',
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  clientId: 'c',
});

describe('ARM clients', () => {
  it('one client of each kind per session and subscription', async () => {
    const a = session();
    const b = session();
    expect(await msiClient(a)).toBe(await msiClient(a, a.subscriptionId));
    expect(await authorizationClient(a)).toBe(await authorizationClient(a));
    expect(await keyVaultManagementClient(a)).toBe(await keyVaultManagementClient(a));
    expect(await msiClient(a, '00000000-0000-0000-0000-000000000002')).not.toBe(await msiClient(a));
    expect((await msiClient(a, '00000000-0000-0000-0000-000000000002')).subscriptionId).toBe('00000000-0000-0000-0000-000000000002');
    expect(await msiClient(b)).not.toBe(await msiClient(a));
  });
});
