// A vault's secrets as one principal sees them. Reads (lists, versions, a secret, a deleted secret)
// go over src/auth/rest.ts and are shaped as the SDK shapes them (SecretProperties, KeyVaultSecret,
// DeletedSecret), so the sync, the ledgers and the lease read them alike; writes go through the
// SDK's SecretClient, loaded on the first write: a run that writes nothing never loads it.
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { DeletedSecret, KeyVaultSecret, SecretClient, SecretProperties } from '@azure/keyvault-secrets';
import { KEYVAULT_API_VERSION, secretClient } from '../auth/arm.ts';
import { isCloudVaultHost } from '../auth/cloud.ts';
import type { Cloud } from '../auth/cloud.ts';
import { vaultReader } from '../auth/rest.ts';
import type { VaultReader } from '../auth/rest.ts';

/** A SecretBundle / SecretItem / DeletedSecretBundle of the Key Vault REST API (times in Unix seconds). */
interface SecretJson {
  id?: string;
  value?: string;
  contentType?: string;
  tags?: Record<string, string>;
  managed?: boolean;
  kid?: string;
  attributes?: { enabled?: boolean; nbf?: number; exp?: number; created?: number; updated?: number; recoverableDays?: number; recoveryLevel?: string };
  recoveryId?: string;
  scheduledPurgeDate?: number;
  deletedDate?: number;
}

function dateOf(seconds: number | undefined): Date | undefined {
  return typeof seconds === 'number' ? new Date(seconds * 1000) : undefined;
}

/** vault URL, collection, name and version of a secret or deleted-secret id. */
function parseSecretId(id: string): { vaultUrl: string; name: string; version?: string } {
  const u = new URL(id);
  const [, name, version] = u.pathname.split('/').filter(Boolean);
  return { vaultUrl: u.origin, name: decodeURIComponent(name ?? ''), version: version ? decodeURIComponent(version) : undefined };
}

/** The SDK's SecretProperties of a REST secret (item or bundle). */
export function secretPropertiesOf(s: SecretJson): SecretProperties {
  const id = parseSecretId(s.id ?? '');
  const a = s.attributes ?? {};
  return {
    id: s.id,
    name: id.name,
    vaultUrl: id.vaultUrl,
    version: id.version,
    enabled: a.enabled,
    notBefore: dateOf(a.nbf),
    expiresOn: dateOf(a.exp),
    createdOn: dateOf(a.created),
    updatedOn: dateOf(a.updated),
    recoverableDays: a.recoverableDays,
    recoveryLevel: a.recoveryLevel as SecretProperties['recoveryLevel'],
    contentType: s.contentType,
    tags: s.tags,
    managed: s.managed,
    certificateKeyId: s.kid,
  };
}

function deletedSecretOf(s: SecretJson): DeletedSecret {
  const properties = { ...secretPropertiesOf(s), recoveryId: s.recoveryId, scheduledPurgeDate: dateOf(s.scheduledPurgeDate), deletedOn: dateOf(s.deletedDate) };
  return { name: properties.name, value: s.value, properties, recoveryId: s.recoveryId, scheduledPurgeDate: properties.scheduledPurgeDate, deletedOn: properties.deletedOn };
}

function mapPages<A, B>(pages: AsyncIterator<A[]>, f: (a: A) => B): AsyncIterator<B[]> {
  return {
    async next(): Promise<IteratorResult<B[]>> {
      const page = await pages.next();
      return page.done ? page : { done: false, value: page.value.map(f) };
    },
  };
}

const segment = encodeURIComponent;

export class VaultSecrets {
  readonly vaultUri: string;
  private readonly reads: VaultReader;
  private readonly writer: () => Promise<SecretClient>;
  private sdk?: Promise<SecretClient>;

  /** `perRetry`: policies the SDK client runs on every attempt of a write (loaded with it). */
  constructor(credential: TokenCredential, cloud: Cloud, vaultUri: string, perRetry: () => Promise<PipelinePolicy[]> = async () => []) {
    this.vaultUri = vaultUri;
    this.reads = vaultReader(credential, vaultUri, KEYVAULT_API_VERSION, isCloudVaultHost(cloud, vaultUri));
    this.writer = async () => secretClient(credential, cloud, vaultUri, await perRetry());
  }

  /** The current version's metadata of every secret, a LIST page of 25 per step. */
  secretPages(): AsyncIterator<SecretProperties[]> {
    return mapPages(this.reads.pages<SecretJson>('/secrets'), secretPropertiesOf);
  }

  /** Every version's metadata of one secret, a page of 25 per step. */
  versionPages(name: string): AsyncIterator<SecretProperties[]> {
    return mapPages(this.reads.pages<SecretJson>(`/secrets/${segment(name)}/versions`), secretPropertiesOf);
  }

  /** The soft-deleted secrets, a page of 25 per step. */
  deletedPages(): AsyncIterator<DeletedSecret[]> {
    return mapPages(this.reads.pages<SecretJson>('/deletedsecrets'), deletedSecretOf);
  }

  /** A secret's current (or given) version with its value: the caller masks the value. */
  async getSecret(name: string, options?: { version?: string }): Promise<KeyVaultSecret> {
    const s = await this.reads.get<SecretJson>(`/secrets/${segment(name)}/${options?.version ? segment(options.version) : ''}`);
    const properties = secretPropertiesOf(s);
    return { name: properties.name, value: s.value, properties };
  }

  async getDeletedSecret(name: string): Promise<DeletedSecret> {
    return deletedSecretOf(await this.reads.get<SecretJson>(`/deletedsecrets/${segment(name)}`));
  }

  /** The SDK client for writes, built on the first one. */
  private client(): Promise<SecretClient> {
    this.sdk ??= this.writer();
    return this.sdk;
  }

  async setSecret(...args: Parameters<SecretClient['setSecret']>): ReturnType<SecretClient['setSecret']> {
    return (await this.client()).setSecret(...args);
  }

  async updateSecretProperties(...args: Parameters<SecretClient['updateSecretProperties']>): ReturnType<SecretClient['updateSecretProperties']> {
    return (await this.client()).updateSecretProperties(...args);
  }

  async beginDeleteSecret(...args: Parameters<SecretClient['beginDeleteSecret']>): ReturnType<SecretClient['beginDeleteSecret']> {
    return (await this.client()).beginDeleteSecret(...args);
  }

  async beginRecoverDeletedSecret(...args: Parameters<SecretClient['beginRecoverDeletedSecret']>): ReturnType<SecretClient['beginRecoverDeletedSecret']> {
    return (await this.client()).beginRecoverDeletedSecret(...args);
  }

  async purgeDeletedSecret(...args: Parameters<SecretClient['purgeDeletedSecret']>): ReturnType<SecretClient['purgeDeletedSecret']> {
    return (await this.client()).purgeDeletedSecret(...args);
  }
}
