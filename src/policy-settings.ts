// The policy settings of a connection: one schema for the admin API, the config file
// and storage. Every setting is off by default, so an unconfigured connection is a pure
// pass-through that records metrics.
import { z } from 'zod';

export const WORDLIST_NAMES = ['profanity', 'adult', 'dan', 'custom'] as const;
export type WordlistName = (typeof WORDLIST_NAMES)[number];

export const WORDLIST_ACTIONS = ['audit', 'redact', 'block'] as const;
export type WordlistAction = (typeof WORDLIST_ACTIONS)[number];

/** Which lists are checked and what a match does; a list left out is not checked. */
export const WordlistSettingsSchema = z
  .object({
    profanity: z.enum(WORDLIST_ACTIONS),
    adult: z.enum(WORDLIST_ACTIONS),
    dan: z.enum(WORDLIST_ACTIONS),
    custom: z.enum(WORDLIST_ACTIONS),
  })
  .partial()
  .strict();
export type WordlistSettings = z.infer<typeof WordlistSettingsSchema>;

export const REFLECTION_MODES = ['none', 'audit', 'redact', 'block'] as const;
export type ReflectionMode = (typeof REFLECTION_MODES)[number];

/** A request or token limit per connection, end user or client IP, in a fixed window. */
export const LimitSchema = z
  .object({
    per: z.enum(['connection', 'user', 'ip']),
    window: z.enum(['minute', 'hour', 'day']),
    requests: z.number().int('must be a whole number').positive('must be 1 or more').optional(),
    tokens: z.number().int('must be a whole number').positive('must be 1 or more').optional(),
  })
  .strict()
  .refine((limit) => limit.requests !== undefined || limit.tokens !== undefined, 'give requests, tokens or both');
export type Limit = z.infer<typeof LimitSchema>;

/** A spending cap in USD per connection or end user; day and month are calendar windows in the timezone. */
export const BudgetSchema = z
  .object({
    per: z.enum(['connection', 'user']),
    window: z.enum(['day', 'month', 'total']),
    usd: z.number().positive('must be more than 0'),
  })
  .strict();
export type Budget = z.infer<typeof BudgetSchema>;

/** True when Intl knows the zone (an IANA name such as Europe/Berlin). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const Count = z.number().int('must be a whole number').min(0, 'must be 0 or more');
const ModelName = z.string().trim().min(1, 'a model name cannot be empty');

/** A path prefix below `/v1`, as `/assistants`; a leading `/v1` and trailing slashes are dropped. */
const PathPrefix = z
  .string()
  .trim()
  .regex(/^\/[A-Za-z0-9\-._~/]*$/, 'must be a path such as /assistants (letters, digits, -, ., _, ~ and /)')
  .refine((path) => !path.split('/').includes('..'), 'must not contain ".."')
  .transform((path) => path.replace(/^\/v1(?=\/|$)/, '').replace(/\/+$/, '') || '/');

/** Every setting, complete: what the dashboard's settings dialog validates too. */
export const PolicySchema = z.object({
  /** When false, a header that would loosen a setting is refused with 422 and flagged. */
  allowHeaderOverrides: z.boolean(),
  enforceUserIds: z.boolean(),
  /** 0 = off. */
  maxTokens: Count,
  /** 0 = off. */
  maxPromptChars: Count,
  /** Model names and image sizes such as `1024x1024`. */
  blockedModels: z.array(ModelName),
  /** Empty = every model allowed. */
  allowedModels: z.array(ModelName),
  autoModerate: z.boolean(),
  requestWordlists: WordlistSettingsSchema,
  responseWordlists: WordlistSettingsSchema,
  /** The words and phrases of the `custom` list. */
  customWordlist: z
    .array(z.string().trim().min(1).max(200, 'a word or phrase has at most 200 characters'))
    .max(100, 'at most 100 words or phrases'),
  promptReflection: z.enum(REFLECTION_MODES),
  retryCount: z.number().int('must be a whole number').min(0, 'must be 0 to 5').max(5, 'must be 0 to 5'),
  /** Every upstream attempt together, to the answer's last byte; 0 = the gateway's upstreamTotalTimeoutMs. */
  upstreamTotalTimeoutMs: Count,
  logRequestBody: z.boolean(),
  logResponseBody: z.boolean(),
  /**
   * Path prefixes below /v1 forwarded without inspection while content policies are on;
   * any other request the gateway cannot read is then refused.
   */
  passthroughPaths: z.array(PathPrefix).max(100, 'at most 100 paths'),
  limits: z.array(LimitSchema).max(20, 'at most 20 limits'),
  budgets: z.array(BudgetSchema).max(20, 'at most 20 budgets'),
  /** IANA name: where the day and month of budgets and day limits begin. */
  timezone: z.string().refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin'),
  /** With Redis unreachable: refuse requests under limits or budgets (503), or serve them unlimited and flagged. */
  onStateUnavailable: z.enum(['deny', 'allow']),
  /** The output tokens a budget reserves for a request that sets no maximum, when the price data knows none for its model. */
  defaultMaxOutputTokens: z.number().int('must be a whole number').positive('must be 1 or more'),
});

export type PolicySettings = z.infer<typeof PolicySchema>;

export const DEFAULT_POLICY: Readonly<PolicySettings> = Object.freeze({
  allowHeaderOverrides: true,
  enforceUserIds: false,
  maxTokens: 0,
  maxPromptChars: 0,
  blockedModels: [],
  allowedModels: [],
  autoModerate: false,
  requestWordlists: {},
  responseWordlists: {},
  customWordlist: [],
  promptReflection: 'none',
  retryCount: 0,
  upstreamTotalTimeoutMs: 0,
  logRequestBody: false,
  logResponseBody: false,
  passthroughPaths: [],
  limits: [],
  budgets: [],
  timezone: 'UTC',
  onStateUnavailable: 'deny',
  defaultMaxOutputTokens: 4096,
});

/** A partial update, as the admin API and the config file take it: only what is given. */
export const PolicySettingsPatchSchema = PolicySchema.partial().strict();
export type PolicySettingsPatch = z.infer<typeof PolicySettingsPatchSchema>;

/** Complete settings: what is given, the defaults for the rest. */
export const PolicySettingsSchema = PolicySettingsPatchSchema.transform(
  (patch): PolicySettings => ({ ...DEFAULT_POLICY, ...patch }),
);

/**
 * Settings saved by another version may lack newer settings or carry retired ones:
 * unknown keys are dropped, invalid values fall back to their default.
 */
export function readStoredPolicy(stored: unknown): PolicySettings {
  const policy: PolicySettings = { ...DEFAULT_POLICY };
  if (typeof stored !== 'object' || stored === null) return policy;
  for (const [key, schema] of Object.entries(PolicySchema.shape)) {
    const parsed = schema.safeParse((stored as Record<string, unknown>)[key]);
    if (parsed.success) Object.assign(policy, { [key]: parsed.data });
  }
  return policy;
}
