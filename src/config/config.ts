// One validated, frozen Config from flags > environment > config file > defaults.
// Nothing below this module reads process.env.
import { readFile } from 'node:fs/promises';
import { YAMLParseError } from 'yaml';
import { z } from 'zod';
import { PricesConfigSchema } from '../accounting/prices.js';
import { AutoReplyCreateSchema } from '../autoreplies/directory.js';
import { AllowedHostsSchema, CorsOriginsSchema } from '../browser-access.js';
import { TargetsSchema, UpstreamSchema } from '../connections/upstream.js';
import { PolicySettingsPatchSchema } from '../policy-settings.js';
import { isApiKey, isEdgeToken } from '../secrets/keys.js';
import { RetentionSchema } from '../store/retention.js';
import { expandEnvReferences, formatPath, parseYamlSource } from './yaml-source.js';

const Port = z.coerce.number().int().min(0).max(65535);
const Url = z.url({ protocol: /^https?$/ });

/** Settings of the gateway process itself, as flags, env and the file's `gateway:` section give them. */
export const GatewaySettingsSchema = z
  .object({
    port: Port,
    host: z.string().min(1),
    dataDir: z.string().min(1),
    databaseUrl: z.string().min(1),
    /** redis:// URL: limits, budgets and config change events shared across replicas; unset = in-process. */
    redisUrl: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }),
    /** How long a replica's budget and limit reservations outlive it (it renews them while alive). */
    reservationLeaseMs: z.coerce.number().int().min(100),
    upstream: Url,
    mockUpstream: z.boolean(),
    openaiApiKey: z.string().min(1),
    defaultApiKey: z.string().min(1),
    adminToken: z.string().min(16, 'the admin token must be at least 16 characters'),
    secret: z.string().min(16, 'the secret must be at least 16 characters'),
    maxBodyBytes: z.coerce.number().int().positive(),
    maxJsonAnswerBytes: z.coerce.number().int().positive(),
    upstreamConnectTimeoutMs: z.coerce.number().int().positive(),
    upstreamFirstByteTimeoutMs: z.coerce.number().int().positive(),
    upstreamIdleTimeoutMs: z.coerce.number().int().positive(),
    shutdownGraceMs: z.coerce.number().int().min(0),
    upstreamTotalTimeoutMs: z.coerce.number().int().positive(),
    clientBodyTimeoutMs: z.coerce.number().int().positive(),
    adminAuthMaxFailures: z.coerce.number().int().positive(),
    adminAuthWindowMs: z.coerce.number().int().positive(),
    trustProxy: z.union([z.boolean(), z.string().min(1)]),
    /** A routing target failing this many times in a row cools down… */
    targetFailuresBeforeCooldown: z.coerce.number().int().positive(),
    /** …for this many seconds, in which the connection's other targets are used. */
    targetCooldownSeconds: z.coerce.number().positive(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /** Host names besides loopback ones the gateway answers to (checked on loopback and without keys). */
    allowedHosts: AllowedHostsSchema,
    /** Origins whose web pages get CORS; unset: every origin with keys, none without. */
    corsOrigins: CorsOriginsSchema,
    /** OTLP/HTTP base URL (`/v1/traces` is appended); unset: no traces. */
    otlpEndpoint: Url,
    /** OTLP/HTTP traces URL as it is, taking the place of `otlpEndpoint`'s. */
    otlpTracesEndpoint: Url,
    /** Headers sent with every export, `name=value` pairs separated by commas (values URL-encoded). */
    otlpHeaders: z.string().min(1),
    /** The traces' `service.name`. */
    otelServiceName: z.string().min(1),
    /** An edge gateway: the central gateway it syncs from and ships records to… */
    controlPlane: Url,
    /** …and the edge token (made in its dashboard) it does so with. */
    edgeToken: z.string().refine(isEdgeToken, 'expected an edge token: upe- followed by 48 letters and digits'),
    /** How often an edge asks the control plane for changes. */
    edgeSyncIntervalMs: z.coerce.number().int().min(100),
    /** Bytes of records an edge keeps on disk while the control plane is unreachable; past it they are dropped. */
    edgeSpoolMaxBytes: z.coerce.number().int().min(1024),
  })
  .partial()
  .strict();
export type GatewaySettings = z.infer<typeof GatewaySettingsSchema>;

/**
 * A connection the file declares, by name. Its key comes from the file too (through an
 * `${ENV}` reference), so applications keep working across restarts.
 */
export const FileConnectionSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    key: z.string().refine(isApiKey, 'expected a Usage Panda key: up- followed by 48 letters and digits'),
    enabled: z.boolean().default(true),
    policy: PolicySettingsPatchSchema.default({}),
    upstream: UpstreamSchema.optional(),
    targets: TargetsSchema.optional(),
    providerKey: z.string().min(1).optional(),
  })
  .strict();
export type FileConnection = z.infer<typeof FileConnectionSchema>;

/** An auto-reply the file declares; `connections` are connection names of this file. */
export const FileAutoReplySchema = AutoReplyCreateSchema;
export type FileAutoReply = z.infer<typeof FileAutoReplySchema>;

export const ConfigFileSchema = z
  .object({
    gateway: GatewaySettingsSchema.optional(),
    /** Price overrides for private and fine-tuned models (issue 4). */
    prices: PricesConfigSchema.optional(),
    /** Days to keep records and, separately, their bodies (issue 4). */
    retention: RetentionSchema.optional(),
    /** No keys needed: `defaults` applies to every request without a Usage Panda key. */
    standalone: z.boolean().default(false),
    /** The policy of standalone requests, and the base of every file connection's policy. */
    defaults: PolicySettingsPatchSchema.default({}),
    connections: z.array(FileConnectionSchema).default([]),
    autoreplies: z.array(FileAutoReplySchema).default([]),
  })
  .strict()
  .superRefine((file, ctx) => {
    const names = new Set<string>();
    const keys = new Set<string>();
    file.connections.forEach((connection, index) => {
      if (names.has(connection.name)) {
        ctx.addIssue({ code: 'custom', path: ['connections', index, 'name'], message: 'declared twice' });
      }
      if (keys.has(connection.key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['connections', index, 'key'],
          message: 'the same key as another connection',
        });
      }
      names.add(connection.name);
      keys.add(connection.key);
    });
    file.autoreplies.forEach((reply, index) => {
      reply.connections.forEach((name, at) => {
        if (!names.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['autoreplies', index, 'connections', at],
            message: `no connection named ${name} in this file`,
          });
        }
      });
    });
    if (file.standalone && file.gateway?.host !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['gateway', 'host'],
        message:
          'standalone mode needs no key, so it binds 127.0.0.1; use --host or USAGE_PANDA_HOST to bind elsewhere',
      });
    }
  });
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

const DEFAULTS = {
  port: 9000,
  host: '127.0.0.1',
  dataDir: './data',
  upstream: 'https://api.openai.com/v1',
  mockUpstream: false,
  maxBodyBytes: 32 * 1024 * 1024,
  // Upstream's JSON answers are read whole (for usage and answer policies); streams are not.
  maxJsonAnswerBytes: 64 * 1024 * 1024,
  upstreamConnectTimeoutMs: 10_000,
  // A reasoning model can think for minutes before its first byte, or between two events.
  upstreamFirstByteTimeoutMs: 300_000,
  upstreamIdleTimeoutMs: 300_000,
  // How long shutdown lets requests in flight (long streams) finish before it cuts them.
  shutdownGraceMs: 10_000,
  // Every attempt together, retries and backoff included, to the answer's last byte: long
  // enough for long streams (a connection's policy may set its own).
  upstreamTotalTimeoutMs: 900_000,
  // The whole request body: 32 MiB in 2 minutes is about 2 Mbit/s.
  clientBodyTimeoutMs: 120_000,
  // Failed admin authentications (bearer token or dashboard sign-in) per IP before a 429.
  adminAuthMaxFailures: 10,
  adminAuthWindowMs: 300_000,
  targetFailuresBeforeCooldown: 3,
  targetCooldownSeconds: 30,
  reservationLeaseMs: 30_000,
  edgeSyncIntervalMs: 5_000,
  edgeSpoolMaxBytes: 1024 ** 3,
  logLevel: 'info',
} as const satisfies GatewaySettings;

export type Config = Readonly<
  Required<Pick<GatewaySettings, keyof typeof DEFAULTS>> &
    Omit<GatewaySettings, keyof typeof DEFAULTS> & { configFile?: string; file: ConfigFile }
>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The environment variables of SPEC §1, mapped to settings. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): GatewaySettings {
  const pick = {
    port: env.USAGE_PANDA_PORT,
    host: env.USAGE_PANDA_HOST,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    openaiApiKey: env.OPENAI_API_KEY,
    defaultApiKey: env.USAGE_PANDA_API_KEY,
    adminToken: env.USAGE_PANDA_ADMIN_TOKEN,
    secret: env.USAGE_PANDA_SECRET,
    allowedHosts: env.USAGE_PANDA_ALLOWED_HOSTS,
    corsOrigins: env.USAGE_PANDA_CORS_ORIGINS,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    otlpTracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    otlpHeaders: env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS,
    otelServiceName: env.OTEL_SERVICE_NAME,
    controlPlane: env.USAGE_PANDA_CONTROL_PLANE,
    edgeToken: env.USAGE_PANDA_EDGE_TOKEN,
  };
  const defined = Object.fromEntries(Object.entries(pick).filter(([, v]) => v !== undefined && v !== ''));
  return parseOrExplain(GatewaySettingsSchema, defined, 'environment');
}

/**
 * Reads, expands `${ENV}` references in, and validates the config file; every problem is
 * reported as `file:line: field: what is wrong`, all of them at once.
 */
export async function readConfigFile(path: string, env: NodeJS.ProcessEnv): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let source: ReturnType<typeof parseYamlSource>;
  try {
    source = parseYamlSource(text);
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError(`${path}:${err.linePos?.[0].line ?? 1}: ${err.message}`);
    throw err;
  }
  const at = (field: readonly PropertyKey[], message: string) =>
    `${path}:${source.lineOf(field)}: ${formatPath(field)}: ${message}`;

  const { data, missing } = expandEnvReferences(source.data, env);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(({ path: field, name }) => at(field, `environment variable ${name} is not set`)).join('\n'),
    );
  }
  const result = ConfigFileSchema.safeParse(data, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
  });
  if (result.success) return result.data;
  const problems = result.error.issues
    .flatMap(issueFields)
    .map(([field, message]) => ({ line: source.lineOf(field), text: at(field, message) }))
    .sort((a, b) => a.line - b.line);
  throw new ConfigError(problems.map((problem) => problem.text).join('\n'));
}

/** Where an issue is and what it says; unknown keys are reported each at its own line. */
function issueFields(issue: z.core.$ZodIssue): [readonly PropertyKey[], string][] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => [[...issue.path, key], 'unknown field']);
  return [[issue.path, issue.message]];
}

/** Merges flags > env > file > defaults into the one Config passed down. */
export async function loadConfig(
  flags: GatewaySettings & { configFile?: string },
  env: NodeJS.ProcessEnv,
): Promise<Config> {
  const { configFile, ...flagSettings } = flags;
  const file = configFile ? await readConfigFile(configFile, env) : ConfigFileSchema.parse({});
  const merged = {
    ...DEFAULTS,
    ...file.gateway,
    // No key guards a standalone gateway, so only a flag or the environment may expose it.
    ...(file.standalone ? { host: '127.0.0.1' } : {}),
    ...settingsFromEnv(env),
    ...parseOrExplain(GatewaySettingsSchema, dropUndefined(flagSettings), 'command line'),
  };
  if ((merged.controlPlane === undefined) !== (merged.edgeToken === undefined)) {
    throw new ConfigError(
      'an edge gateway needs both the control plane URL and its edge token (--control-plane and --edge-token, or USAGE_PANDA_CONTROL_PLANE and USAGE_PANDA_EDGE_TOKEN)',
    );
  }
  return Object.freeze({ ...merged, configFile, file });
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseOrExplain<T extends z.ZodType>(schema: T, data: unknown, source: string): z.infer<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ConfigError(`invalid configuration in ${source}: ${problems.join('; ')}`);
}
