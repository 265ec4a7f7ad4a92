// One validated, frozen Config from flags > environment > config file > defaults.
// Nothing below this module reads process.env.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

const Port = z.coerce.number().int().min(0).max(65535);
const Url = z.url({ protocol: /^https?$/ });

/** Settings of the gateway process itself, as flags, env and the file's `gateway:` section give them. */
export const GatewaySettingsSchema = z
  .object({
    port: Port,
    host: z.string().min(1),
    dataDir: z.string().min(1),
    databaseUrl: z.string().min(1),
    upstream: Url,
    mockUpstream: z.boolean(),
    openaiApiKey: z.string().min(1),
    defaultApiKey: z.string().min(1),
    adminToken: z.string().min(16, 'the admin token must be at least 16 characters'),
    secret: z.string().min(16, 'the secret must be at least 16 characters'),
    maxBodyBytes: z.coerce.number().int().positive(),
    upstreamConnectTimeoutMs: z.coerce.number().int().positive(),
    upstreamHeadersTimeoutMs: z.coerce.number().int().positive(),
    upstreamIdleTimeoutMs: z.coerce.number().int().positive(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  })
  .partial()
  .strict();
export type GatewaySettings = z.infer<typeof GatewaySettingsSchema>;

export const ConfigFileSchema = z
  .object({
    gateway: GatewaySettingsSchema.optional(),
  })
  .strict();
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

const DEFAULTS = {
  port: 9000,
  host: '127.0.0.1',
  dataDir: './data',
  upstream: 'https://api.openai.com/v1',
  mockUpstream: false,
  maxBodyBytes: 32 * 1024 * 1024,
  upstreamConnectTimeoutMs: 10_000,
  // Long answers can take minutes before the first byte; an idle stream is cut sooner.
  upstreamHeadersTimeoutMs: 600_000,
  upstreamIdleTimeoutMs: 300_000,
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
    openaiApiKey: env.OPENAI_API_KEY,
    defaultApiKey: env.USAGE_PANDA_API_KEY,
    adminToken: env.USAGE_PANDA_ADMIN_TOKEN,
    secret: env.USAGE_PANDA_SECRET,
  };
  const defined = Object.fromEntries(Object.entries(pick).filter(([, v]) => v !== undefined && v !== ''));
  return parseOrExplain(GatewaySettingsSchema, defined, 'environment');
}

export async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text) ?? {};
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError(`${path}: ${err.message}`);
    throw err;
  }
  return parseOrExplain(ConfigFileSchema, data, path);
}

/** Merges flags > env > file > defaults into the one Config passed down. */
export async function loadConfig(
  flags: GatewaySettings & { configFile?: string },
  env: NodeJS.ProcessEnv,
): Promise<Config> {
  const { configFile, ...flagSettings } = flags;
  const file = configFile ? await readConfigFile(configFile) : {};
  const merged = {
    ...DEFAULTS,
    ...file.gateway,
    ...settingsFromEnv(env),
    ...parseOrExplain(GatewaySettingsSchema, dropUndefined(flagSettings), 'command line'),
  };
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
