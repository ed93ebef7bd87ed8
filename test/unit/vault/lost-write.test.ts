import { describe, expect, it } from '@jest/globals';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { lostWriteGuardPolicy, sameWrite, setSecretName } from '../../../src/keyvault/lost-write.ts';

const URL_SET = 'https://kv.example/secrets/db-password?api-version=2025-07-01';
const SENT = { value: 'v-1', contentType: 'text/plain', tags: { b: '2', a: '1' }, attributes: { enabled: true, exp: 1900000000 } };

function put(body: unknown = SENT): PipelineRequest {
  return createPipelineRequest({ url: URL_SET, method: 'PUT', body: JSON.stringify(body), headers: createHttpHeaders({ authorization: 'Bearer t' }) });
}

function answer(request: PipelineRequest, status: number, body?: unknown): PipelineResponse {
  return { request, status, headers: createHttpHeaders(), bodyAsText: body === undefined ? '' : JSON.stringify(body) };
}

/** A vault whose attempts are scripted: each PUT takes the next outcome; GETs answer `stored`. */
function fakeVault(outcomes: Array<'reset' | number>, stored: () => unknown) {
  const calls: string[] = [];
  const next = async (req: PipelineRequest): Promise<PipelineResponse> => {
    calls.push(`${req.method} ${req.headers.get('authorization') ?? '-'}`);
    if (req.method === 'GET') {
      const s = stored();
      return s === undefined ? answer(req, 404, { error: { code: 'SecretNotFound' } }) : answer(req, 200, s);
    }
    const o = outcomes.shift() ?? 200;
    if (o === 'reset') throw new RestError('read ECONNRESET', { code: 'ECONNRESET' });
    return answer(req, o, { ...SENT, id: 'https://kv.example/secrets/db-password/v2' });
  };
  return { calls, next };
}

/** The SDK's retry loop in miniature: the same request object, attempted until an answer < 500. */
async function withRetries(req: PipelineRequest, send: (r: PipelineRequest) => Promise<PipelineResponse>): Promise<PipelineResponse> {
  for (let i = 0; ; i++) {
    try {
      const r = await send(req);
      if (r.status < 500 || i === 3) return r;
    } catch (e) {
      if (i === 3) throw e;
    }
  }
}

describe('setSecretName', () => {
  it('names only PUT /secrets/{name}', () => {
    expect(setSecretName({ method: 'PUT', url: URL_SET })).toBe('db-password');
    expect(setSecretName({ method: 'GET', url: URL_SET })).toBeUndefined();
    expect(setSecretName({ method: 'PUT', url: 'https://kv.example/secrets/db-password/abc?api-version=1' })).toBeUndefined();
    expect(setSecretName({ method: 'PUT', url: 'https://kv.example/keys/k?api-version=1' })).toBeUndefined();
  });
});

describe('sameWrite', () => {
  it('matches the stored version made from the PUT (tag order and unsent fields aside)', () => {
    expect(sameWrite(SENT, { ...SENT, tags: { a: '1', b: '2' }, attributes: { enabled: true, exp: 1900000000, created: 1 } } as never)).toBe(true);
  });
  it.each([
    ['another value', { value: 'v-0' }],
    ['another content type', { contentType: 'application/json' }],
    ['a tag more', { tags: { a: '1', b: '2', c: '3' } }],
    ['another expiry', { attributes: { enabled: true, exp: 1 } }],
    ['disabled', { attributes: { enabled: false, exp: 1900000000 } }],
  ])('does not match %s', (_, diff) => {
    expect(sameWrite(SENT, { ...SENT, ...diff })).toBe(false);
  });
});

describe('lostWriteGuardPolicy', () => {
  it('a reset after the vault applied the PUT: answered by the read, no second PUT', async () => {
    let stored: unknown;
    const v = fakeVault(['reset'], () => stored);
    const policy = lostWriteGuardPolicy();
    const req = put();
    const r = await withRetries(req, async (x) => {
      try {
        return await policy.sendRequest(x, v.next);
      } finally {
        stored ??= { ...SENT, id: 'https://kv.example/secrets/db-password/v1' }; // the vault applied the first PUT
      }
    });
    expect(v.calls).toEqual(['PUT Bearer t', 'GET Bearer t']);
    expect(r.status).toBe(200);
    expect(r.request).toBe(req);
    expect(JSON.parse(r.bodyAsText ?? '{}').id).toMatch(/\/v1$/);
  });

  it('a reset before the vault applied it: the read finds an older version, the PUT is sent again', async () => {
    const v = fakeVault(['reset'], () => ({ ...SENT, value: 'v-0' }));
    const policy = lostWriteGuardPolicy();
    const r = await withRetries(put(), (x) => policy.sendRequest(x, v.next));
    expect(r.status).toBe(200);
    expect(v.calls).toEqual(['PUT Bearer t', 'GET Bearer t', 'PUT Bearer t']);
  });

  it('a 503 then no such secret: the PUT is sent again after the read', async () => {
    const v = fakeVault([503], () => undefined);
    const policy = lostWriteGuardPolicy();
    const r = await withRetries(put(), (x) => policy.sendRequest(x, v.next));
    expect(r.status).toBe(200);
    expect(v.calls).toEqual(['PUT Bearer t', 'GET Bearer t', 'PUT Bearer t']);
  });

  it('leaves a first attempt, reads, and body-less (challenge) PUTs alone', async () => {
    const v = fakeVault([200], () => SENT);
    const policy = lostWriteGuardPolicy();
    await policy.sendRequest(put(), v.next);
    await policy.sendRequest(createPipelineRequest({ url: URL_SET, method: 'PUT' }), v.next);
    await policy.sendRequest(createPipelineRequest({ url: URL_SET, method: 'GET' }), v.next);
    expect(v.calls).toEqual(['PUT Bearer t', 'PUT -', 'GET -']);
  });
});
