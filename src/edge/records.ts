// The body of `POST /api/edge/records`: log records as an edge made them, validated field
// by field. The schema is checked against LogRecord, so the two cannot drift apart.
import { z } from 'zod';
import { type LogRecord, OPERATIONS } from '../domain.js';

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();
const Text = z.string().max(10_000_000);

export const LogRecordSchema = z
  .object({
    id: z.string().min(1).max(100),
    ts: z.number().int().nonnegative(),
    connectionId: nullable(z.string().max(100)),
    connectionName: nullable(z.string().max(200)),
    endpoint: z.string().max(2_000),
    method: z.string().max(20),
    operation: z.enum(OPERATIONS),
    model: nullable(z.string().max(500)),
    stream: z.boolean(),
    status: z.number().int(),
    error: nullable(z.string().max(10_000)),
    latencyMs: z.number().nonnegative(),
    upstreamLatencyMs: nullable(z.number().nonnegative()),
    promptTokens: nullable(z.number().int().nonnegative()),
    completionTokens: nullable(z.number().int().nonnegative()),
    totalTokens: nullable(z.number().int().nonnegative()),
    cachedTokens: nullable(z.number().int().nonnegative()),
    reasoningTokens: nullable(z.number().int().nonnegative()),
    cacheWriteTokens: nullable(z.number().int().nonnegative()).optional(),
    cacheWrite1hTokens: nullable(z.number().int().nonnegative()).optional(),
    webSearchRequests: nullable(z.number().int().nonnegative()).optional(),
    serviceTier: nullable(z.string().max(100)).optional(),
    costBreakdown: nullable(
      z
        .object({
          input: z.number(),
          cachedInput: z.number(),
          cacheWrite: z.number(),
          cacheWrite1h: z.number(),
          output: z.number(),
          webSearch: z.number(),
        })
        .strict(),
    ).optional(),
    usageEstimated: z.boolean(),
    costUsd: nullable(z.number()),
    upstreamId: nullable(z.string().max(500)),
    organization: nullable(z.string().max(500)),
    ip: nullable(z.string().max(100)),
    userAgent: nullable(z.string().max(2_000)),
    endUser: nullable(z.string().max(1_000)),
    traceId: nullable(z.string().max(500)),
    flags: z.array(z.object({ type: z.string().max(200), description: z.string().max(10_000) }).strict()).max(1_000),
    moderated: z.boolean(),
    provider: z.string().max(100),
    requestBody: nullable(Text),
    responseBody: nullable(Text),
    attempts: z
      .array(
        z
          .object({
            provider: z.string().max(100).optional(),
            target: z.number().int().nonnegative().optional(),
            status: nullable(z.number().int()),
            error: nullable(z.string().max(10_000)),
            latencyMs: z.number().nonnegative(),
          })
          .strict(),
      )
      .max(100),
    /** Set by the central from the token, whatever the edge sent. */
    edge: nullable(z.string()).optional(),
  })
  .strict();

export const EdgeRecordsSchema = z.object({ records: z.array(LogRecordSchema).max(5_000) }).strict();

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesLogRecord: Same<z.infer<typeof LogRecordSchema>, LogRecord> = true;
void schemaMatchesLogRecord;
