// Name rules and value formats shared by the loader and the renderer.
import { cutWithHash } from '../util/hash.ts';

/** Kubernetes DNS-1123 subdomain (service accounts, SecretProviderClasses, Secrets). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes Secret data key. */
export const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

/** Maximum length of a user-assigned identity name. */
export const MAX_IDENTITY_NAME = 128;

export const DEFAULT_ROLE = 'Key Vault Secrets User';
/**
 * The default when a target mounts keys or certificates (objectType key/cert): the provider reads
 * those through the keys and certificates APIs, which Secrets User does not cover. Certificate User
 * is the narrowest built-in role with secret values, `keys/read` and `certificates/read`.
 */
export const DEFAULT_ROLE_WITH_KEYS_OR_CERTS = 'Key Vault Certificate User';
export const DEFAULT_GENERATE_LENGTH = 32;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90d` -> 7776000; undefined when not a duration. Units: s, m, h, d, w. */
export function parseDurationSeconds(text: string): number | undefined {
  const m = /^([1-9][0-9]*)([smhdw])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** A real ISO 8601 date-time with a zone (rejects 2026-02-30 and 25:00). */
export function isIsoDateTime(text: string): boolean {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59) return false;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d >= 1 && d <= days && !Number.isNaN(Date.parse(text));
}

/**
 * Default identity name for a namespace: `id-<cluster>-<namespace>`; longer than Azure's 128
 * characters, cut with a hash of the whole, so two long namespaces never share an identity.
 */
export function defaultIdentityName(cluster: string, namespace: string): string {
  return cutWithHash(`id-${cluster}-${namespace}`, MAX_IDENTITY_NAME);
}
