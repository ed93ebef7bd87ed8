// The job's GitHub OIDC ID token, from the runner's endpoint (ACTIONS_ID_TOKEN_REQUEST_URL with the
// request token as bearer; present only with `permissions: id-token: write`). Masked before use.
import { httpSend } from '../util/http-send.ts';
import { sleep } from '../util/concurrency.ts';
import { setSecret } from './commands.ts';

/** The runner's endpoint answers 5xx while busy: retried like GitHub's own client (502, 503, 504). */
const RETRY_STATUS = new Set([502, 503, 504]);
const RETRIES = 10;
const BACKOFF_SLICE_MS = 5;
const MAX_BACKOFF_EXPONENT = 10;
const MAX_ANSWER_BYTES = 256 * 1024;

function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`Unable to get ${name} env variable`);
  return v;
}

/** The token's URL: the runner's, with `&audience=` when one is asked for. */
export function idTokenUrl(base: string, audience: string | undefined): string {
  return audience ? `${base}&audience=${encodeURIComponent(audience)}` : base;
}

/** The ID token's `value` from the endpoint's JSON answer, or the reason there is none. */
function tokenOf(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('the ID-token endpoint answered with something other than JSON');
  }
  const value = body && typeof body === 'object' ? (body as { value?: unknown }).value : undefined;
  if (typeof value !== 'string' || !value) throw new Error('Response json body do not have ID Token field');
  return value;
}

/** Requests an ID token for `audience`; the token is masked in the log before it is returned. */
export async function getIDToken(audience?: string, wait: (ms: number) => Promise<void> = sleep): Promise<string> {
  try {
    const url = idTokenUrl(requiredEnv('ACTIONS_ID_TOKEN_REQUEST_URL'), audience);
    const headers = { authorization: `Bearer ${requiredEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN')}`, accept: 'application/json' };
    for (let attempt = 0; ; attempt++) {
      let status: number;
      let text: string;
      try {
        ({ status, text } = await httpSend(url, { method: 'GET', headers, maxBytes: MAX_ANSWER_BYTES }, 'ID-token request'));
      } catch (e) {
        throw new Error(`Failed to get ID Token. Error Message: ${(e as Error).message}`);
      }
      if (status >= 200 && status < 300) {
        const token = tokenOf(text);
        setSecret(token);
        return token;
      }
      if (!RETRY_STATUS.has(status) || attempt >= RETRIES) throw new Error(`Failed to get ID Token. Error Code : ${status}`);
      await wait(BACKOFF_SLICE_MS * 2 ** Math.min(attempt + 1, MAX_BACKOFF_EXPONENT));
    }
  } catch (e) {
    throw new Error(`Error message: ${(e as Error).message}`);
  }
}
