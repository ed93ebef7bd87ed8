// The job's ID-token request against a real local HTTP server, as the runner's endpoint answers it:
// the URL and bearer sent, the token masked before it is returned, 5xx retried, other failures named;
// and login's assertion over it masks the token once.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveCloud } from '../../../src/auth/cloud.ts';
import { githubAssertion } from '../../../src/auth/login.ts';
import { getIDToken, idTokenUrl } from '../../../src/runner/id-token.ts';
import { closeServers, serve as serveLocal } from '../../support/local-http.ts';

const saved = { ...process.env };
let stdout = '';
const write = process.stdout.write.bind(process.stdout);

/** The runner's ID-token endpoint, played by a local server. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  return `${await serveLocal((req, _body, res) => handler(req, res))}/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0`;
}

beforeEach(() => {
  stdout = '';
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
});

afterEach(async () => {
  process.stdout.write = write;
  process.env = { ...saved };
  await closeServers();
});

const noWait = async (): Promise<void> => undefined;

describe('getIDToken', () => {
  it('asks the runner endpoint for the audience with the request token, and masks the token before returning it', async () => {
    const seen: Array<{ url?: string; auth?: string }> = [];
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = await serve((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ count: 1, value: 'eyJ.id.token' }));
    });
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
    await expect(getIDToken('api://AzureADTokenExchange', noWait)).resolves.toBe('eyJ.id.token');
    expect(seen).toEqual([{ url: expect.stringMatching(/\?api-version=2\.0&audience=api%3A%2F%2FAzureADTokenExchange$/), auth: 'Bearer request-token' }]);
    expect(stdout).toBe('::add-mask::eyJ.id.token\n');
  });

  it('retries 502/503/504 and then succeeds', async () => {
    let calls = 0;
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = await serve((_req, res) => {
      calls++;
      res.writeHead(calls <= 3 ? [502, 503, 504][calls - 1]! : 200, { 'content-type': 'application/json' });
      res.end(calls <= 3 ? '{}' : JSON.stringify({ value: 'tok' }));
    });
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'rt';
    const waits: number[] = [];
    await expect(getIDToken(undefined, async (ms) => void waits.push(ms))).resolves.toBe('tok');
    expect(calls).toBe(4);
    expect(waits).toEqual([10, 20, 40]);
  });

  it('does not retry a refusal, and names the status', async () => {
    let calls = 0;
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = await serve((_req, res) => {
      calls++;
      res.writeHead(401);
      res.end();
    });
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'rt';
    await expect(getIDToken('aud', noWait)).rejects.toThrow('Error message: Failed to get ID Token. Error Code : 401');
    expect(calls).toBe(1);
  });

  it('names the missing variable without id-token: write (login.ts turns that into its diagnosis)', async () => {
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'rt';
    await expect(getIDToken('aud', noWait)).rejects.toThrow('Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable');
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = 'http://127.0.0.1:1/x?a=1';
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    await expect(getIDToken('aud', noWait)).rejects.toThrow('Unable to get ACTIONS_ID_TOKEN_REQUEST_TOKEN env variable');
  });

  it('refuses an answer without a token, and never prints the answer', async () => {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'misplaced-secret' }));
    });
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'rt';
    const err = await getIDToken('aud', noWait).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/do not have ID Token field/);
    expect((err as Error).message).not.toContain('misplaced-secret');
    expect(stdout).toBe('');
  });

  it('adds the audience to the runner URL, which already has a query', () => {
    expect(idTokenUrl('https://r/x?api-version=2.0', 'a b')).toBe('https://r/x?api-version=2.0&audience=a%20b');
    expect(idTokenUrl('https://r/x?api-version=2.0', undefined)).toBe('https://r/x?api-version=2.0');
  });
});

describe("login's GitHub assertion", () => {
  it('masks the ID token once: the runner getter masks what it fetches, login masks what an injected getter returns', async () => {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ count: 1, value: 'eyJ.fetched.token' }));
    });
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
    const opts = { clientId: 'client', tenantId: 'tenant', cloud: resolveCloud('AzureCloud', {}) };
    await expect(githubAssertion(opts).assertion()).resolves.toBe('eyJ.fetched.token');
    expect(stdout).toBe('::add-mask::eyJ.fetched.token\n');

    stdout = '';
    await expect(githubAssertion({ ...opts, getIdToken: async () => 'eyJ.injected.token' }).assertion()).resolves.toBe('eyJ.injected.token');
    expect(stdout).toBe('::add-mask::eyJ.injected.token\n');
  });
});
