// The central gateway's side of edge proxies: edge tokens (made, listed, revoked), the
// snapshot an edge syncs (its scope only, secrets re-sealed for its transport key) and the
// records it ships (checked against its scope, stamped with its name, written idempotently).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EdgeToken, LogRecord, ProviderUpstream } from '../domain.js';
import { edgeOutOfScope, edgeUnauthorized, nameTaken } from '../errors.js';
import type { SecretBox } from '../secrets/cipher.js';
import { generateEdgeToken, hashSecret, isEdgeToken, keyPrefix } from '../secrets/keys.js';
import type { Store } from '../store/store.js';
import type { EdgeSnapshot } from './snapshot.js';
import { transportBox } from './token.js';

/** The body of `POST /api/edge-tokens`. */
export const EdgeTokenCreateSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    /** Connection ids the edge may serve; absent: every connection. */
    connections: z.array(z.string().min(1).max(100)).max(1_000).optional(),
  })
  .strict();

export function publicEdgeToken(token: EdgeToken) {
  return {
    ...token,
    createdAt: new Date(token.createdAt).toISOString(),
    lastSeenAt: token.lastSeenAt === null ? null : new Date(token.lastSeenAt).toISOString(),
  };
}

/** An authenticated edge: its token row and the box its secrets travel in. */
export interface EdgeCaller {
  token: EdgeToken;
  box: SecretBox;
}

const inScope = (token: EdgeToken, connectionId: string) =>
  token.connections === null || token.connections.includes(connectionId);

export class EdgeControl {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
  ) {}

  /** Makes a token; the token itself is returned this once and stored hashed and sealed. */
  async create(input: z.infer<typeof EdgeTokenCreateSchema>): Promise<{ edge: EdgeToken; token: string }> {
    if (await this.store.findEdgeTokenByName(input.name)) throw nameTaken('edge', input.name);
    const token = generateEdgeToken();
    const edge = await this.store.insertEdgeToken({
      name: input.name,
      tokenHash: hashSecret(token),
      tokenPrefix: keyPrefix(token),
      tokenEncrypted: this.box.encrypt(token),
      connections: input.connections ?? null,
    });
    return { edge, token };
  }

  list(): Promise<EdgeToken[]> {
    return this.store.listEdgeTokens();
  }

  revoke(id: string): Promise<boolean> {
    return this.store.deleteEdgeToken(id);
  }

  /** The edge an `Authorization: Bearer upe-…` header belongs to; 401 otherwise. */
  async authenticate(header: string | undefined): Promise<EdgeCaller> {
    const token = header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
    if (!isEdgeToken(token)) throw edgeUnauthorized();
    const found = await this.store.findEdgeTokenByHash(hashSecret(token));
    if (!found) throw edgeUnauthorized();
    const { tokenEncrypted, ...edge } = found;
    // Seen at most once a second per edge: a poll and a batch together are one visit.
    const now = Date.now();
    if (edge.lastSeenAt === null || now - edge.lastSeenAt >= 1_000) await this.store.touchEdgeToken(edge.id, now);
    return { token: edge, box: transportBox(this.box.decrypt(tokenEncrypted)) };
  }

  /**
   * The snapshot for this edge, or null when it already has `ifNoneMatch`. The version hashes
   * what is stored (sealed under the central secret, so stable), before any re-sealing.
   */
  async snapshot(caller: EdgeCaller, ifNoneMatch: string | undefined): Promise<EdgeSnapshot | null> {
    const connections = (await this.store.listConnectionsWithKeyHash()).filter((c) => inScope(caller.token, c.id));
    const autoReplies = (await this.store.listAutoReplies()).filter(
      (reply) => reply.connections.length === 0 || reply.connections.some((id) => inScope(caller.token, id)),
    );
    const version = createHash('sha256')
      .update(JSON.stringify({ scope: caller.token.connections, connections, autoReplies }))
      .digest('base64url');
    if (ifNoneMatch === version) return null;
    const reseal = (sealed: string) => caller.box.encrypt(this.box.decrypt(sealed));
    const resealUpstream = <T extends ProviderUpstream>(upstream: T): T => ({
      ...upstream,
      ...(upstream.apiKeyEncrypted === undefined ? {} : { apiKeyEncrypted: reseal(upstream.apiKeyEncrypted) }),
      ...(upstream.secretAccessKeyEncrypted === undefined
        ? {}
        : { secretAccessKeyEncrypted: reseal(upstream.secretAccessKeyEncrypted) }),
    });
    return {
      version,
      connections: connections.map((c) => ({
        ...c,
        upstream: c.upstream === null || typeof c.upstream === 'string' ? c.upstream : resealUpstream(c.upstream),
        targets: c.targets.map(resealUpstream),
        providerKeyEncrypted: c.providerKeyEncrypted === null ? null : reseal(c.providerKeyEncrypted),
      })),
      autoReplies,
    };
  }

  /** Writes an edge's records, stamped with its name; a record already stored is skipped (by id). */
  async ingest(caller: EdgeCaller, records: LogRecord[]): Promise<void> {
    for (const record of records) {
      if (record.connectionId !== null && !inScope(caller.token, record.connectionId)) {
        throw edgeOutOfScope(record.connectionId);
      }
    }
    await this.store.insertLogs(records.map((record) => ({ ...record, edge: caller.token.name })));
  }
}
