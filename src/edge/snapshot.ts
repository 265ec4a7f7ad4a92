// What `GET /api/edge/config` carries: the connections and auto-replies an edge serves, each
// connection with its key's hash and its secrets sealed under the edge's transport key.
// One schema: the central builds the answer from it and the edge validates what it receives.
import { z } from 'zod';
import { type AutoReply, type Connection, PROVIDERS } from '../domain.js';
import { readStoredPolicy } from '../policy-settings.js';

const SealedUpstreamSchema = z.object({
  provider: z.enum(PROVIDERS),
  baseUrl: z.string().optional(),
  apiKeyEncrypted: z.string().optional(),
  apiVersion: z.string().optional(),
  deployments: z.record(z.string(), z.string()).optional(),
  region: z.string().optional(),
  accessKeyId: z.string().optional(),
  secretAccessKeyEncrypted: z.string().optional(),
});

const SealedTargetSchema = SealedUpstreamSchema.extend({
  weight: z.number().optional(),
  models: z.array(z.string()).optional(),
  modelMap: z.record(z.string(), z.string()).optional(),
});

const EdgeConnectionSchema = z.object({
  id: z.string(),
  name: z.string(),
  keyPrefix: z.string(),
  /** sha256 of the key: the edge recognises keys without ever holding them. */
  keyHash: z.string(),
  enabled: z.boolean(),
  policy: z.unknown().transform(readStoredPolicy),
  upstream: z.union([z.string(), SealedUpstreamSchema]).nullable(),
  targets: z.array(SealedTargetSchema),
  providerKeyEncrypted: z.string().nullable(),
  managedBy: z.enum(['api', 'file']),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type EdgeConnection = Connection & { keyHash: string };

const EdgeAutoReplySchema = z.object({
  id: z.string(),
  type: z.enum(['chat', 'completion']),
  request: z.string(),
  response: z.string(),
  connections: z.array(z.string()),
  managedBy: z.enum(['api', 'file']),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const EdgeSnapshotSchema = z.object({
  /** Changes whenever anything the edge serves changes; the ETag too. */
  version: z.string(),
  connections: z.array(EdgeConnectionSchema),
  autoReplies: z.array(EdgeAutoReplySchema),
});

export interface EdgeSnapshot {
  version: string;
  connections: EdgeConnection[];
  autoReplies: AutoReply[];
}

// The schemas and the domain types must not drift apart: each is assignable to the other.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesDomain: Same<z.infer<typeof EdgeSnapshotSchema>, EdgeSnapshot> = true;
void schemaMatchesDomain;
