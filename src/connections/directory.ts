// Connections (Usage Panda API keys): creating, rotating and updating them, and finding
// the one a request's key belongs to, through a short-lived cache in front of the store.
import { z } from 'zod';
import type { Connection } from '../domain.js';
import { managedByFile } from '../errors.js';
import { PolicySettingsPatchSchema, PolicySettingsSchema } from '../policy-settings.js';
import type { SecretBox } from '../secrets/cipher.js';
import { generateApiKey, hashSecret, isApiKey, keyPrefix } from '../secrets/keys.js';
import type { Store } from '../store/store.js';
import {
  publicUpstream,
  sealTargets,
  sealTargetsKeeping,
  sealUpstream,
  TargetsSchema,
  TargetsUpdateSchema,
  type UpstreamInput,
  UpstreamSchema,
} from './upstream.js';

/** The body of `POST /api/connections`, and what the CLI and the config file create. */
export const ConnectionCreateSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    enabled: z.boolean().default(true),
    policy: PolicySettingsPatchSchema.default({}),
    upstream: UpstreamSchema.nullable().default(null),
    targets: TargetsSchema.default([]),
    providerKey: z.string().min(1).nullable().default(null),
  })
  .strict();
export type ConnectionCreate = z.input<typeof ConnectionCreateSchema>;

/**
 * The body of `PATCH /api/connections/:id`; `policy` is merged into the current one, `targets`
 * replace the current ones (each may keep a current target's secrets, see TargetUpdateSchema).
 */
export const ConnectionUpdateSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    enabled: z.boolean(),
    policy: PolicySettingsPatchSchema,
    upstream: UpstreamSchema.nullable(),
    targets: TargetsUpdateSchema,
    providerKey: z.string().min(1).nullable(),
  })
  .partial()
  .strict();
export type ConnectionUpdate = z.infer<typeof ConnectionUpdateSchema>;

/** A connection as the admin API shows it: no key, no provider key. */
export function publicConnection(connection: Connection) {
  const { providerKeyEncrypted, upstream, targets, ...rest } = connection;
  return {
    ...rest,
    upstream: upstream === null || typeof upstream === 'string' ? upstream : publicUpstream(upstream),
    targets: targets.map(publicUpstream),
    hasProviderKey: providerKeyEncrypted !== null,
    createdAt: new Date(connection.createdAt).toISOString(),
    updatedAt: new Date(connection.updatedAt).toISOString(),
  };
}

interface CacheEntry {
  connection: Connection | undefined;
  expires: number;
}

const MAX_CACHED_KEYS = 10_000;

export class ConnectionDirectory {
  /**
   * By the key as the request sent it, so a cached lookup costs no hash (SHA-256 is about
   * 2 µs a request). The keys stay in this process's memory, where every request that
   * carries one puts it anyway; only their hashes are ever stored.
   */
  private readonly byKey = new Map<string, CacheEntry>();

  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    /** How long a key lookup is trusted; other replicas' changes are seen within it. */
    private readonly cacheTtlMs = 5_000,
  ) {}

  async findByKey(key: string): Promise<Connection | undefined> {
    // What cannot be a key is no connection's: no query, and the cache holds only key-sized strings.
    if (!isApiKey(key)) return undefined;
    const now = Date.now();
    const cached = this.byKey.get(key);
    if (cached && cached.expires > now) return cached.connection;
    const connection = await this.store.findConnectionByKeyHash(hashSecret(key));
    // Unknown keys are cached too, bounded, so a flood of bad keys does not become a flood of queries.
    if (this.byKey.size >= MAX_CACHED_KEYS) this.byKey.clear();
    this.byKey.set(key, { connection, expires: now + this.cacheTtlMs });
    return connection;
  }

  private seal(upstream: UpstreamInput | null) {
    return upstream === null || typeof upstream === 'string' ? upstream : sealUpstream(upstream, this.box);
  }

  /** A secret stored sealed (a provider key), decrypted. */
  open(sealed: string): string {
    return this.box.decrypt(sealed);
  }

  /** The stored provider key, decrypted, or null. */
  providerKey(connection: Connection): string | null {
    return connection.providerKeyEncrypted === null ? null : this.box.decrypt(connection.providerKeyEncrypted);
  }

  list(): Promise<Connection[]> {
    return this.store.listConnections();
  }

  get(id: string): Promise<Connection | undefined> {
    return this.store.findConnectionById(id);
  }

  findByName(name: string): Promise<Connection | undefined> {
    return this.store.findConnectionByName(name);
  }

  /** Creates a connection; the returned key is shown once and never stored. */
  async create(
    input: ConnectionCreate,
    managedBy: Connection['managedBy'] = 'api',
  ): Promise<{ connection: Connection; key: string }> {
    const data = ConnectionCreateSchema.parse(input);
    if (managedBy === 'api') await this.refuseFileName(data.name);
    const key = generateApiKey();
    const connection = await this.store.insertConnection({
      name: data.name,
      keyHash: hashSecret(key),
      keyPrefix: keyPrefix(key),
      enabled: data.enabled,
      policy: PolicySettingsSchema.parse(data.policy),
      upstream: this.seal(data.upstream),
      targets: sealTargets(data.targets, this.box),
      providerKeyEncrypted: data.providerKey === null ? null : this.box.encrypt(data.providerKey),
      managedBy,
    });
    return { connection, key };
  }

  /** The connection, if it exists; a file-managed one may only be changed in the file. */
  private async writable(id: string): Promise<Connection | undefined> {
    const current = await this.store.findConnectionById(id);
    if (current?.managedBy === 'file') throw managedByFile(`connection ${current.name}`);
    return current;
  }

  /** A name the config file declares stays the file's: the file finds its connections by name. */
  private async refuseFileName(name: string): Promise<void> {
    const holder = await this.store.findConnectionByName(name);
    if (holder?.managedBy === 'file') throw managedByFile(`connection ${name}`);
  }

  async update(id: string, update: ConnectionUpdate): Promise<Connection | undefined> {
    const current = await this.writable(id);
    if (!current) return undefined;
    if (update.name !== undefined && update.name !== current.name) await this.refuseFileName(update.name);
    const updated = await this.store.updateConnection(id, {
      name: update.name,
      enabled: update.enabled,
      policy: update.policy ? PolicySettingsSchema.parse({ ...current.policy, ...update.policy }) : undefined,
      upstream: update.upstream === undefined ? undefined : this.seal(update.upstream),
      targets: update.targets === undefined ? undefined : sealTargetsKeeping(update.targets, current.targets, this.box),
      providerKeyEncrypted:
        update.providerKey === undefined
          ? undefined
          : update.providerKey === null
            ? null
            : this.box.encrypt(update.providerKey),
    });
    this.invalidate();
    return updated;
  }

  /** Issues a new key; the old one stops working at once on this replica. */
  async rotate(id: string): Promise<{ connection: Connection; key: string } | undefined> {
    if (!(await this.writable(id))) return undefined;
    const key = generateApiKey();
    const connection = await this.store.updateConnection(id, { keyHash: hashSecret(key), keyPrefix: keyPrefix(key) });
    this.invalidate();
    return connection && { connection, key };
  }

  async remove(id: string): Promise<boolean> {
    if (!(await this.writable(id))) return false;
    const removed = await this.store.deleteConnection(id);
    this.invalidate();
    return removed;
  }

  /** Called after every change made through this directory: tells the other replicas (pub/sub). */
  onChange: (() => void) | null = null;

  /** Forgets the cached keys after a change here, and tells the other replicas. */
  invalidate(): void {
    this.byKey.clear();
    this.onChange?.();
  }

  /** Forgets the cached keys: another replica changed a connection. */
  forget(): void {
    this.byKey.clear();
  }
}
