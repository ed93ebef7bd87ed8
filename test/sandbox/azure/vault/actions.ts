// Maps a Key Vault data-plane request (method + path) to what the service authorizes and
// throttles: the RBAC data action, the access-policy permission, and the throttling class.
//
// RBAC data actions follow Microsoft's resource-provider operations list for
// Microsoft.KeyVault/vaults/{secrets,keys,certificates}; access-policy permissions follow the
// REST reference ("This operation requires the secrets/get permission", GetDeletedSecret needs
// secrets/list, UpdateSecret needs secrets/set).

export type ObjectKind = 'secrets' | 'keys' | 'certificates';

export interface VaultOperation {
  /** Short operation id, e.g. `secrets.get`, `secrets.set`, `secrets.listVersions`. */
  op: string;
  objectKind: ObjectKind;
  objectName?: string;
  version?: string;
  /** RBAC data action, e.g. `Microsoft.KeyVault/vaults/secrets/getSecret/action`. */
  dataAction: string;
  /** Access-policy permission for `objectKind`, e.g. `get`, `list`, `set`, `purge`. */
  permission: string;
  /** Whether the operation mutates the vault (recorded as class 'write'). */
  write: boolean;
  /** Throttling bucket: `create` = "CREATE secret/key" (300 per 10 s for secrets); `other` = all other transactions. */
  bucket: 'create' | 'other';
  /** Operation that deletes or recovers an object (drives the ObjectIsBeingDeleted window). */
  lifecycle?: 'delete' | 'recover' | 'purge';
}

const P = 'Microsoft.KeyVault/vaults';

function op(kind: ObjectKind, name: string, action: string, permission: string, write: boolean, extra: Partial<VaultOperation> = {}): VaultOperation {
  return { op: `${kind}.${name}`, objectKind: kind, dataAction: `${P}/${kind}/${action}`, permission, write, bucket: 'other', ...extra };
}

function secrets(method: string, seg: string[], deleted: boolean): VaultOperation | undefined {
  const [, name, third] = seg;
  if (deleted) {
    if (seg.length === 1 && method === 'GET') return op('secrets', 'listDeleted', 'readMetadata/action', 'list', false);
    if (seg.length === 2 && method === 'GET') return op('secrets', 'getDeleted', 'readMetadata/action', 'list', false, { objectName: name });
    if (seg.length === 2 && method === 'DELETE') return op('secrets', 'purge', 'purge/action', 'purge', true, { objectName: name, lifecycle: 'purge' });
    if (seg.length === 3 && third === 'recover' && method === 'POST') return op('secrets', 'recover', 'recover/action', 'recover', true, { objectName: name, lifecycle: 'recover' });
    return undefined;
  }
  if (seg.length === 1 && method === 'GET') return op('secrets', 'list', 'readMetadata/action', 'list', false);
  if (seg.length === 2 && name === 'restore' && method === 'POST') return op('secrets', 'restore', 'restore/action', 'restore', true);
  if (seg.length === 2) {
    switch (method) {
      case 'GET':
        return op('secrets', 'get', 'getSecret/action', 'get', false, { objectName: name });
      case 'PUT':
        return op('secrets', 'set', 'setSecret/action', 'set', true, { objectName: name, bucket: 'create' });
      case 'PATCH':
        return op('secrets', 'update', 'update/action', 'set', true, { objectName: name });
      case 'DELETE':
        return op('secrets', 'delete', 'delete', 'delete', true, { objectName: name, lifecycle: 'delete' });
    }
    return undefined;
  }
  if (seg.length === 3 && third === 'versions' && method === 'GET') return op('secrets', 'listVersions', 'readMetadata/action', 'list', false, { objectName: name });
  if (seg.length === 3 && third === 'backup' && method === 'POST') return op('secrets', 'backup', 'backup/action', 'backup', false, { objectName: name });
  if (seg.length === 3 && method === 'GET') return op('secrets', 'get', 'getSecret/action', 'get', false, { objectName: name, version: third });
  if (seg.length === 3 && method === 'PATCH') return op('secrets', 'update', 'update/action', 'set', true, { objectName: name, version: third });
  return undefined;
}

const KEY_CRYPTO: Record<string, [string, string]> = {
  encrypt: ['encrypt/action', 'encrypt'],
  decrypt: ['decrypt/action', 'decrypt'],
  wrapkey: ['wrap/action', 'wrapKey'],
  unwrapkey: ['unwrap/action', 'unwrapKey'],
  sign: ['sign/action', 'sign'],
  verify: ['verify/action', 'verify'],
  release: ['release/action', 'release'],
};

function keys(method: string, seg: string[], deleted: boolean): VaultOperation | undefined {
  const [, name, third, fourth] = seg;
  if (deleted) {
    if (seg.length === 1 && method === 'GET') return op('keys', 'listDeleted', 'read', 'list', false);
    if (seg.length === 2 && method === 'GET') return op('keys', 'getDeleted', 'read', 'get', false, { objectName: name });
    if (seg.length === 2 && method === 'DELETE') return op('keys', 'purge', 'purge/action', 'purge', true, { objectName: name, lifecycle: 'purge' });
    if (seg.length === 3 && third === 'recover' && method === 'POST') return op('keys', 'recover', 'recover/action', 'recover', true, { objectName: name, lifecycle: 'recover' });
    return undefined;
  }
  if (seg.length === 1 && method === 'GET') return op('keys', 'list', 'read', 'list', false);
  if (seg.length === 2 && name === 'restore' && method === 'POST') return op('keys', 'restore', 'restore/action', 'restore', true);
  if (seg.length === 2) {
    switch (method) {
      case 'GET':
        return op('keys', 'get', 'read', 'get', false, { objectName: name });
      case 'PUT':
        return op('keys', 'import', 'import/action', 'import', true, { objectName: name, bucket: 'create' });
      case 'PATCH':
        return op('keys', 'update', 'update/action', 'update', true, { objectName: name });
      case 'DELETE':
        return op('keys', 'delete', 'delete', 'delete', true, { objectName: name, lifecycle: 'delete' });
    }
    return undefined;
  }
  if (seg.length === 3) {
    if (third === 'create' && method === 'POST') return op('keys', 'create', 'create/action', 'create', true, { objectName: name, bucket: 'create' });
    if (third === 'versions' && method === 'GET') return op('keys', 'listVersions', 'read', 'list', false, { objectName: name });
    if (third === 'backup' && method === 'POST') return op('keys', 'backup', 'backup/action', 'backup', false, { objectName: name });
    if (third === 'rotate' && method === 'POST') return op('keys', 'rotate', 'rotate/action', 'rotate', true, { objectName: name });
    if (third === 'rotationpolicy' && method === 'GET') return op('keys', 'getRotationPolicy', 'read', 'getrotationpolicy', false, { objectName: name });
    if (third === 'rotationpolicy' && method === 'PUT') return op('keys', 'setRotationPolicy', 'write', 'setrotationpolicy', true, { objectName: name });
    if (method === 'GET') return op('keys', 'get', 'read', 'get', false, { objectName: name, version: third });
    if (method === 'PATCH') return op('keys', 'update', 'update/action', 'update', true, { objectName: name, version: third });
  }
  if (seg.length === 4 && method === 'POST' && fourth) {
    const c = KEY_CRYPTO[fourth.toLowerCase()];
    if (c) return op('keys', fourth.toLowerCase(), c[0], c[1], false, { objectName: name, version: third });
  }
  return undefined;
}

function certificates(method: string, seg: string[], deleted: boolean): VaultOperation | undefined {
  const [, name, third] = seg;
  if (deleted) {
    if (seg.length === 1 && method === 'GET') return op('certificates', 'listDeleted', 'read', 'list', false);
    if (seg.length === 2 && method === 'GET') return op('certificates', 'getDeleted', 'read', 'get', false, { objectName: name });
    if (seg.length === 2 && method === 'DELETE') return op('certificates', 'purge', 'purge/action', 'purge', true, { objectName: name, lifecycle: 'purge' });
    if (seg.length === 3 && third === 'recover' && method === 'POST') return op('certificates', 'recover', 'recover/action', 'recover', true, { objectName: name, lifecycle: 'recover' });
    return undefined;
  }
  if (seg.length === 1 && method === 'GET') return op('certificates', 'list', 'read', 'list', false);
  if (seg.length === 2 && name === 'restore' && method === 'POST') return op('certificates', 'restore', 'restore/action', 'restore', true);
  if (seg.length === 2 && (name === 'contacts' || name === 'issuers')) {
    const perm = name === 'contacts' ? 'managecontacts' : method === 'GET' ? 'listissuers' : 'setissuers';
    return op('certificates', name, method === 'GET' ? 'read' : 'update/action', perm, method !== 'GET');
  }
  if (seg.length === 2) {
    if (method === 'GET') return op('certificates', 'get', 'read', 'get', false, { objectName: name });
    if (method === 'PATCH') return op('certificates', 'update', 'update/action', 'update', true, { objectName: name });
    if (method === 'DELETE') return op('certificates', 'delete', 'delete', 'delete', true, { objectName: name, lifecycle: 'delete' });
    return undefined;
  }
  if (seg.length >= 3) {
    if (third === 'create' && method === 'POST') return op('certificates', 'create', 'create/action', 'create', true, { objectName: name, bucket: 'create' });
    if (third === 'import' && method === 'POST') return op('certificates', 'import', 'import/action', 'import', true, { objectName: name, bucket: 'create' });
    if (third === 'versions' && method === 'GET') return op('certificates', 'listVersions', 'read', 'list', false, { objectName: name });
    if (third === 'backup' && method === 'POST') return op('certificates', 'backup', 'backup/action', 'backup', false, { objectName: name });
    if (third === 'policy' || third === 'pending')
      return op('certificates', third, method === 'GET' ? 'read' : 'update/action', method === 'GET' ? 'get' : 'update', method !== 'GET', {
        objectName: name,
      });
    if (method === 'GET') return op('certificates', 'get', 'read', 'get', false, { objectName: name, version: third });
    if (method === 'PATCH') return op('certificates', 'update', 'update/action', 'update', true, { objectName: name, version: third });
  }
  return undefined;
}

/** Splits a request path (no query) into its non-empty segments, lower-casing the collection. */
export function pathSegments(pathname: string): string[] {
  return pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map((s, i) => (i === 0 ? s.toLowerCase() : decodeURIComponent(s)));
}

/** Classifies a data-plane request; undefined for a path Key Vault does not serve. */
export function classifyVaultRequest(method: string, pathname: string): VaultOperation | undefined {
  const m = method.toUpperCase();
  const seg = pathSegments(pathname);
  switch (seg[0]) {
    case 'secrets':
      return secrets(m, seg, false);
    case 'deletedsecrets':
      return secrets(m, seg, true);
    case 'keys':
      return keys(m, seg, false);
    case 'deletedkeys':
      return keys(m, seg, true);
    case 'certificates':
      return certificates(m, seg, false);
    case 'deletedcertificates':
      return certificates(m, seg, true);
    default:
      return undefined;
  }
}
