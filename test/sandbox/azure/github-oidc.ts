// GitHub Actions OIDC issuer of the sandbox: discovery + JWKS, and the runner's ID-token endpoint
// that @actions/core's getIDToken() calls (ACTIONS_ID_TOKEN_REQUEST_URL + `&audience=`, with
// `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`), answering `{ "value": "<jwt>" }`.
import { randomUUID } from 'node:crypto';
import { PORTS } from '../ports.ts';
import type { CertPaths } from '../pki.ts';
import { API_PREFIX, handleRest, registerGithubRest } from './github-rest.ts';
import { startHttpsService } from './http.ts';
import type { HttpRequestInfo, Reply, RunningServer } from './http.ts';
import { signJwt } from './jwt.ts';
import type { GithubTokenSettings, World } from './world.ts';

export const RUNNER_PLAN_ID = '6b1f3d0a-3c1e-4c55-8f1e-2a7c9d0e5b11';
export const RUNNER_JOB_ID = '0d3c5e7a-9b2f-4e61-a8d4-1f6b3c2e9a70';

export function idTokenRequestUrl(world: World): string {
  return `${world.githubIssuer}/_apis/distributedtask/hubs/build/plans/${RUNNER_PLAN_ID}/jobs/${RUNNER_JOB_ID}/idtoken?api-version=2.0`;
}

/** The subject GitHub computes for the job (environment > pull_request > ref). */
export function githubSubject(s: GithubTokenSettings): string {
  if (s.subject) return s.subject;
  if (s.environment) return `repo:${s.repository}:environment:${s.environment}`;
  if (s.event === 'pull_request') return `repo:${s.repository}:pull_request`;
  return `repo:${s.repository}:ref:${s.ref}`;
}

/** Mints a GitHub Actions ID token with the world's current settings (plus overrides). */
export function mintGithubToken(world: World, audience: string | undefined, overrides: Partial<GithubTokenSettings> = {}): string {
  const s = { ...world.github, ...overrides };
  const owner = s.repository.split('/')[0] ?? s.repository;
  const now = Math.floor(Date.now() / 1000) + s.issuedAtOffsetSeconds;
  const refType = s.ref.startsWith('refs/tags/') ? 'tag' : 'branch';
  const workflowRef = `${s.repository}/.github/workflows/${s.workflow}.yml@${s.ref}`;
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    sub: githubSubject(s),
    aud: audience ?? `https://github.com/${owner}`,
    ref: s.ref,
    sha: s.sha,
    repository: s.repository,
    repository_owner: owner,
    repository_owner_id: '9919',
    repository_id: '123456789',
    repository_visibility: 'private',
    run_id: s.runId,
    run_number: '17',
    run_attempt: '1',
    actor: s.actor,
    actor_id: '583231',
    workflow: s.workflow,
    workflow_ref: workflowRef,
    workflow_sha: s.sha,
    job_workflow_ref: workflowRef,
    job_workflow_sha: s.sha,
    head_ref: s.event === 'pull_request' ? 'feature' : '',
    base_ref: s.event === 'pull_request' ? 'main' : '',
    event_name: s.event,
    ref_type: refType,
    ref_protected: 'true',
    runner_environment: 'github-hosted',
    iss: world.githubIssuer,
    nbf: now - 5,
    iat: now,
    exp: now + s.lifetimeSeconds,
  };
  if (s.environment) claims.environment = s.environment;
  return signJwt(world.githubKey, claims, { x5t: world.githubKey.kid });
}

function handle(world: World, method: string, url: URL, auth: string | undefined): Reply {
  const path = url.pathname;
  if (method === 'GET' && path === '/.well-known/openid-configuration') {
    return {
      status: 200,
      body: {
        issuer: world.githubIssuer,
        jwks_uri: `${world.githubIssuer}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: [
          'sub',
          'aud',
          'exp',
          'iat',
          'iss',
          'jti',
          'nbf',
          'ref',
          'sha',
          'repository',
          'repository_id',
          'repository_owner',
          'repository_owner_id',
          'run_id',
          'run_number',
          'run_attempt',
          'actor',
          'actor_id',
          'workflow',
          'workflow_ref',
          'workflow_sha',
          'head_ref',
          'base_ref',
          'event_name',
          'ref_type',
          'ref_protected',
          'environment',
          'job_workflow_ref',
          'job_workflow_sha',
          'repository_visibility',
          'runner_environment',
        ],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      },
    };
  }
  if (method === 'GET' && path === '/.well-known/jwks') return { status: 200, body: { keys: [world.githubKey.jwk] } };
  if (method === 'GET' && /^\/_apis\/distributedtask\/hubs\/build\/plans\/[^/]+\/jobs\/[^/]+\/idtoken$/.test(path)) {
    // HTTP auth schemes are case-insensitive (RFC 9110 11.1): `bearer` and `BEARER` are `Bearer`.
    const presented = /^bearer\s+(\S+)\s*$/i.exec(auth ?? '')?.[1];
    if (presented !== world.idTokenRequestToken) {
      return {
        status: 401,
        body: {
          $id: '1',
          message: 'TF400813: The user is not authorized to access this resource.',
          typeName: 'Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException',
          errorCode: 0,
          eventId: 3000,
        },
      };
    }
    const audience = url.searchParams.get('audience') ?? undefined;
    return { status: 200, body: { value: mintGithubToken(world, audience || undefined) } };
  }
  return { status: 404, body: { message: 'Not Found' } };
}

/** The REST API (github-rest.ts) under /api/v3, the OIDC issuer and the runner's token endpoint beside it. */
function route(world: World, req: HttpRequestInfo): Reply {
  if (req.url.pathname.startsWith(`${API_PREFIX}/`)) return handleRest(world, req);
  return handle(world, req.method, req.url, req.headers.authorization);
}

export function startGithubOidc(world: World, cert: CertPaths, log: (m: string) => void): Promise<RunningServer> {
  registerGithubRest(world);
  return startHttpsService({
    service: 'github',
    world,
    port: PORTS.githubOidc,
    cert,
    log,
    handler: (req) => route(world, req),
    errorBody: (_status, code, message) => ({ message: `${code}: ${message}` }),
  });
}
