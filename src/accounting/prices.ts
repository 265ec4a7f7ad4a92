// Prices a request: token rates (including cached input) from @pydantic/genai-prices by
// provider and model, images by model, size and quality, audio by duration — with the
// config file's `prices:` table first, for private and fine-tuned models. An unknown
// model costs null, never a made-up 0.
import { calcPrice, type PriceOptions } from '@pydantic/genai-prices';
import { z } from 'zod';
import type { Endpoint } from '../wire/endpoints.js';
import type { Usage } from '../wire/usage.js';
import { imagePrice } from './image-prices.js';

const Rate = z.number().nonnegative();

/** One row of the config file's `prices:` table. USD per million tokens, per image, per audio minute. */
export const PriceOverrideSchema = z
  .object({
    /** The model name; a trailing `*` matches every model starting with what comes before it. */
    model: z.string().min(1),
    /** Only for this provider (e.g. `openai`); every provider when left out. */
    provider: z.string().min(1).optional(),
    inputPerMTok: Rate.optional(),
    outputPerMTok: Rate.optional(),
    cachedInputPerMTok: Rate.optional(),
    perImage: Rate.optional(),
    perAudioMinute: Rate.optional(),
    /** The most output tokens the model gives one answer: what a budget reserves when a request sets no maximum. */
    maxOutputTokens: z.number().int().positive().optional(),
  })
  .strict();
export const PricesConfigSchema = z.array(PriceOverrideSchema);
export type PriceOverride = z.infer<typeof PriceOverrideSchema>;

/** What a request's price depends on. */
export interface PriceInput {
  provider: string;
  endpoint: Endpoint;
  model: string | null;
  usage: Usage | null;
  /** Image requests: the `n`, `size` and `quality` asked for. */
  image?: { n: number; size?: string; quality?: string };
}

export interface PriceBook {
  /** USD, or null when neither the overrides nor the price data know the model. */
  cost(input: PriceInput): number | null;
  /**
   * The most output tokens one answer can have: the override's maxOutputTokens, else the
   * model's context window (from the price data) less the prompt; null when unknown.
   */
  outputCap(provider: string, model: string, promptTokens: number): number | null;
}

/** The price data's name for a provider, where it differs from the gateway's (`gemini` → `google`). */
export function priceProviderOf(provider: string): string {
  return PRICE_PROVIDERS[provider] ?? provider;
}
const PRICE_PROVIDERS: Record<string, string> = { gemini: 'google', bedrock: 'aws' };

/** The model image requests use when they name none. */
export const DEFAULT_IMAGE_MODEL = 'dall-e-2';

export function createPriceBook(overrides: readonly PriceOverride[] = []): PriceBook {
  const findOverride = (provider: string, model: string) =>
    overrides.find(
      (o) =>
        (o.provider === undefined || o.provider === provider) &&
        (o.model.endsWith('*') ? model.startsWith(o.model.slice(0, -1)) : o.model === model),
    );
  return {
    cost(input) {
      const model = input.model ?? (input.image ? DEFAULT_IMAGE_MODEL : null);
      if (!model) return null;
      const override = findOverride(input.provider, model);
      if (override) return overrideCost(override, input);
      return libraryCost(input, model);
    },
    outputCap(provider, model, promptTokens) {
      const override = findOverride(provider, model);
      if (override?.maxOutputTokens !== undefined) return override.maxOutputTokens;
      const window = contextWindow(provider, model);
      return window === null ? null : Math.max(0, window - promptTokens);
    },
  };
}

const windows = new Map<string, number | null>();

/** The model's context window in the price data, or null. */
function contextWindow(provider: string, model: string): number | null {
  const key = `${provider}\u0000${model}`;
  let window = windows.get(key);
  if (window === undefined) {
    try {
      window =
        calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId: provider })?.model.context_window ?? null;
    } catch {
      window = null;
    }
    if (windows.size >= MAX_LOOKUPS) windows.clear();
    windows.set(key, window);
  }
  return window;
}

function overrideCost(o: PriceOverride, input: PriceInput): number | null {
  if (input.image && o.perImage !== undefined) return o.perImage * input.image.n;
  const u = input.usage;
  if (u?.audioSeconds != null && o.perAudioMinute !== undefined) return (o.perAudioMinute * u.audioSeconds) / 60;
  if (!u || o.inputPerMTok === undefined) return null;
  const cached = u.cachedTokens ?? 0;
  const uncached = (u.promptTokens ?? 0) - cached;
  const cachedRate = o.cachedInputPerMTok ?? o.inputPerMTok;
  const output = (u.completionTokens ?? 0) * (o.outputPerMTok ?? 0);
  return (uncached * o.inputPerMTok + cached * cachedRate + output) / 1_000_000;
}

function libraryCost(input: PriceInput, model: string): number | null {
  const u = input.usage;
  // Image answers with token usage (gpt-image-1) are priced by tokens, others by the image.
  if (input.image && !(u && u.promptTokens !== null)) {
    const each = imagePrice(model, input.image.quality, input.image.size);
    return each === null ? null : each * input.image.n;
  }
  if (!u) return null;
  const usage: Record<string, number> = {};
  if (u.audioSeconds != null && u.promptTokens === null) {
    usage.audio_seconds = u.audioSeconds;
  } else {
    usage.input_tokens = u.promptTokens ?? 0;
    usage.output_tokens = u.completionTokens ?? 0;
    if (u.cachedTokens) usage.cache_read_tokens = u.cachedTokens;
  }
  return priceFromData(usage, model, input.provider);
}

/**
 * Per provider and model, how to ask the price data: calcPrice walks every model's match
 * rules of the provider on each call, so once a model is found it is asked of a provider
 * holding only that model (same prices, tiers and dates). null: the data does not know it.
 */
const lookups = new Map<string, PriceOptions | null>();
const MAX_LOOKUPS = 10_000;

/**
 * Prices already computed, by model, usage and minute: requests with the same token counts
 * (templated prompts, fixed-size embedding chunks) are priced once a minute. Exact, because
 * the price data changes prices by date or at whole minutes of the day, never in between.
 */
const recent = new Map<string, number | null>();
const MAX_RECENT = 10_000;

function priceFromData(usage: Record<string, number>, model: string, provider: string): number | null {
  const key = `${provider}\u0000${model}`;
  const known = lookups.get(key);
  if (known === null) return null;
  const memoKey = `${key}\u0000${Math.floor(Date.now() / 60_000)}\u0000${usage.input_tokens}\u0000${usage.output_tokens}\u0000${usage.cache_read_tokens}\u0000${usage.audio_seconds}`;
  const memo = recent.get(memoKey);
  if (memo !== undefined) return memo;
  const price = calculate(usage, model, provider, key, known);
  if (recent.size >= MAX_RECENT) recent.clear();
  recent.set(memoKey, price);
  return price;
}

function calculate(
  usage: Record<string, number>,
  model: string,
  provider: string,
  key: string,
  known: PriceOptions | undefined,
): number | null {
  let result: ReturnType<typeof calcPrice>;
  try {
    result = calcPrice(usage, model, known ?? { providerId: provider });
  } catch {
    // The data refuses usage it cannot price (e.g. audio for a token-priced model).
    return null;
  }
  if (known === undefined && lookups.size < MAX_LOOKUPS) {
    // Narrowed only when the provider asked for is the one that priced it (not, say, a
    // litellm-style `provider/model` name the library reroutes).
    const narrow = result !== null && result.provider.id === provider;
    lookups.set(
      key,
      result === null
        ? null
        : narrow
          ? { provider: { ...result.provider, models: [result.model] } }
          : { providerId: provider },
    );
  }
  return result?.total_price ?? null;
}
