// Key Vault data-plane error bodies, in the shapes the real service answers (see the SDK
// recordings under ../shared/fixtures/arm-examples/sdk-recordings/keyvault-secrets/).
// No secret value is ever placed in an error.

export interface KvErrorBody {
  error: { code: string; message: string; innererror?: { code: string } };
}

export interface KvAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export function kvError(status: number, code: string, message: string, inner?: string, headers?: Record<string, string>): KvAnswer {
  const body: KvErrorBody = { error: { code, message } };
  if (inner) body.error.innererror = { code: inner };
  return { status, body, headers };
}

export const KV_RESOURCE = 'https://vault.azure.net';

/** 401 without a bearer token: the challenge the SDK's challenge policy reads. */
export function missingToken(authority: string): KvAnswer {
  return kvError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, {
    'www-authenticate': `Bearer authorization="${authority}", resource="${KV_RESOURCE}"`,
  });
}

/** 401 for a token that fails verification (reason is the verifier's, never the token). */
export function invalidToken(authority: string, reason: string): KvAnswer {
  const r = reason.toLowerCase();
  let message = `AKV10032: Invalid issuer or signature. ${reason}`;
  if (r.includes('aud')) message = `AKV10022: Invalid audience. Expected ${KV_RESOURCE}. ${reason}`;
  else if (r.includes('expir') || r.includes('exp')) message = `AKV10005: Token is expired. ${reason}`;
  return kvError(401, 'Unauthorized', message, undefined, {
    'www-authenticate': `Bearer authorization="${authority}", resource="${KV_RESOURCE}"`,
  });
}

/** 403 from a data-plane decision: code `Forbidden`, inner code `ForbiddenByRbac` / `ForbiddenByPolicy`. */
export function forbidden(innerCode: string, message: string): KvAnswer {
  return kvError(403, 'Forbidden', message, innerCode === 'Forbidden' ? undefined : innerCode);
}

/** 429 over the vault's budget (real body as seen from the service). */
export function throttled(retryAfterSeconds: number | undefined): KvAnswer {
  const headers: Record<string, string> = {};
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  return kvError(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached', undefined, headers);
}

const KIND_WORD: Record<string, string> = { secrets: 'Secret', keys: 'Key', certificates: 'Certificate' };

export function kindWord(kind: string): string {
  return KIND_WORD[kind] ?? 'Object';
}

export function deletedButRecoverable(kind: string, name: string): KvAnswer {
  const w = kindWord(kind);
  return kvError(
    409,
    'Conflict',
    `${w} ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the ${w.toLowerCase()} can only be recovered or purged.`,
    'ObjectIsDeletedButRecoverable',
  );
}

export function beingDeleted(kind: string, name: string): KvAnswer {
  return kvError(409, 'Conflict', `${kindWord(kind)} ${name} is currently being deleted.`, 'ObjectIsBeingDeleted');
}

export function secretNotFound(name: string, version?: string): KvAnswer {
  const id = version ? `${name}/${version}` : name;
  return kvError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

export function deletedSecretNotFound(name: string): KvAnswer {
  return kvError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
}

export function badParameter(message: string): KvAnswer {
  return kvError(400, 'BadParameter', message);
}

export function internalError(message = 'An internal server error occurred. Please try again.'): KvAnswer {
  return kvError(500, 'InternalServerError', message);
}
