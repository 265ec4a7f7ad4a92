// Makes the store match the config file at start: the file's connections are created or
// updated by name, file-managed ones it no longer declares are removed, and the file's
// auto-replies replace the ones it declared before. What the admin API made is left alone.
import { openUpstream, sealTargets, sealUpstream } from '../connections/upstream.js';
import type { Connection } from '../domain.js';
import { PolicySettingsSchema } from '../policy-settings.js';
import type { SecretBox } from '../secrets/cipher.js';
import { hashSecret, keyPrefix } from '../secrets/keys.js';
import type { ConnectionPatch, Store } from '../store/store.js';
import { ConfigError, type ConfigFile, type FileConnection } from './config.js';

export interface AppliedConfig {
  created: string[];
  updated: string[];
  removed: string[];
  autoReplies: number;
}

export async function applyConfigFile(file: ConfigFile, store: Store, box: SecretBox): Promise<AppliedConfig> {
  const applied: AppliedConfig = { created: [], updated: [], removed: [], autoReplies: 0 };
  const declared = new Set(file.connections.map((connection) => connection.name));

  // Removals first, so a connection renamed in the file can keep its key.
  for (const connection of await store.listConnections()) {
    if (connection.managedBy === 'file' && !declared.has(connection.name)) {
      await store.deleteConnection(connection.id);
      applied.removed.push(connection.name);
    }
  }

  const idsByName = new Map<string, string>();
  for (const [index, declaredConnection] of file.connections.entries()) {
    const { connection, change } = await upsertConnection(store, box, file, declaredConnection, index);
    idsByName.set(connection.name, connection.id);
    if (change !== 'unchanged') applied[change].push(connection.name);
  }

  for (const reply of await store.listAutoReplies()) {
    if (reply.managedBy === 'file') await store.deleteAutoReply(reply.id);
  }
  for (const reply of file.autoreplies) {
    await store.insertAutoReply({
      ...reply,
      // Validation already checked that every name is a connection of the file.
      connections: reply.connections.flatMap((name) => idsByName.get(name) ?? []),
      managedBy: 'file',
    });
    applied.autoReplies += 1;
  }
  return applied;
}

async function upsertConnection(
  store: Store,
  box: SecretBox,
  file: ConfigFile,
  declared: FileConnection,
  index: number,
): Promise<{ connection: Connection; change: 'created' | 'updated' | 'unchanged' }> {
  const keyHash = hashSecret(declared.key);
  const owner = await store.findConnectionByKeyHash(keyHash);
  if (owner && owner.name !== declared.name) {
    throw new ConfigError(
      `connections[${index}].key (${declared.name}): this key already belongs to connection ${owner.name}`,
    );
  }
  const wanted = {
    name: declared.name,
    enabled: declared.enabled,
    // The file is the whole truth for its connections: defaults, then the connection's own settings.
    policy: PolicySettingsSchema.parse({ ...file.defaults, ...declared.policy }),
    upstream: declared.upstream ?? null,
    targets: declared.targets ?? [],
  };
  const existing = await store.findConnectionByName(declared.name);
  if (!existing) {
    const connection = await store.insertConnection({
      ...wanted,
      upstream:
        typeof wanted.upstream === 'object' && wanted.upstream ? sealUpstream(wanted.upstream, box) : wanted.upstream,
      targets: sealTargets(wanted.targets, box),
      keyHash,
      keyPrefix: keyPrefix(declared.key),
      providerKeyEncrypted: declared.providerKey === undefined ? null : box.encrypt(declared.providerKey),
      managedBy: 'file',
    });
    return { connection, change: 'created' };
  }

  const patch: ConnectionPatch = {};
  if (existing.managedBy !== 'file') patch.managedBy = 'file';
  if (existing.enabled !== wanted.enabled) patch.enabled = wanted.enabled;
  if (JSON.stringify(existing.policy) !== JSON.stringify(wanted.policy)) patch.policy = wanted.policy;
  if (!sameRouting(box, existing, wanted)) {
    patch.upstream =
      typeof wanted.upstream === 'object' && wanted.upstream ? sealUpstream(wanted.upstream, box) : wanted.upstream;
    patch.targets = sealTargets(wanted.targets, box);
  }
  if (!owner) Object.assign(patch, { keyHash, keyPrefix: keyPrefix(declared.key) });
  if (storedProviderKey(box, existing) !== (declared.providerKey ?? null)) {
    patch.providerKeyEncrypted = declared.providerKey === undefined ? null : box.encrypt(declared.providerKey);
  }
  if (Object.keys(patch).length === 0) return { connection: existing, change: 'unchanged' };
  const connection = await store.updateConnection(existing.id, patch);
  if (!connection) throw new ConfigError(`connection ${declared.name} disappeared while the config file was applied`);
  return { connection, change: 'updated' };
}

/** True when the stored upstream and targets are what the file declares (secrets compared decrypted). */
function sameRouting(
  box: SecretBox,
  existing: Connection,
  wanted: { upstream: NonNullable<FileConnection['upstream']> | null; targets: NonNullable<FileConnection['targets']> },
): boolean {
  try {
    const stored = {
      upstream:
        existing.upstream === null || typeof existing.upstream === 'string'
          ? existing.upstream
          : openUpstream(existing.upstream, box),
      targets: existing.targets.map((target) => openUpstream(target, box)),
    };
    const declared = {
      upstream: wanted.upstream,
      targets: wanted.targets.map((target) =>
        typeof target === 'string' ? { provider: 'openai', baseUrl: target } : target,
      ),
    };
    return canonical(stored) === canonical(declared);
  } catch {
    return false; // a secret that cannot be read (the gateway secret changed) is written again
  }
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** The stored provider key, or undefined when it cannot be read (e.g. the secret changed). */
function storedProviderKey(box: SecretBox, connection: Connection): string | null | undefined {
  if (connection.providerKeyEncrypted === null) return null;
  try {
    return box.decrypt(connection.providerKeyEncrypted);
  } catch {
    return undefined;
  }
}
