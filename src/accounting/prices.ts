// Prices a request as providers bill it: token rates from @pydantic/genai-prices by provider
// and model — plain input, cache reads, 5-minute and 1-hour cache writes, output (reasoning
// included), web searches — at batch and service-tier prices, each part kept apart; images
// by model, size and quality, audio by duration. The config file's `prices:` table comes
// first, for private and fine-tuned models. An unknown model costs null, never a made-up 0.
import { calcPrice, type ModelPrice, type PriceOptions } from '@pydantic/genai-prices';
import { z } from 'zod';
import type { CostBreakdown } from '../domain.js';
import type { Endpoint } from '../wire/endpoints.js';
import type { Usage } from '../wire/usage.js';
import { imagePrice } from './image-prices.js';
import { PRIORITY_FACTOR, priorityRates } from './priority-prices.js';

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
    /** Prompt tokens written to the cache for 5 minutes; inputPerMTok when left out. */
    cacheWritePerMTok: Rate.optional(),
    /** Prompt tokens written to the cache for an hour; twice inputPerMTok when left out (Anthropic's rule). */
    cacheWrite1hPerMTok: Rate.optional(),
    /** USD per thousand server-side web searches; searches are free when left out. */
    webSearchPerThousand: Rate.optional(),
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
  /** A Batch API result (Anthropic message batches, OpenAI batches): tokens at half price. */
  batch?: boolean;
}

/** A request's price, by part. */
export interface Bill {
  /** USD, or null when neither the overrides nor the price data price it. */
  costUsd: number | null;
  /** costUsd by part, for requests priced by tokens; null otherwise. */
  parts: CostBreakdown | null;
  /** True when neither the overrides nor the price data know the model. */
  unknownModel: boolean;
}

export interface PriceBook {
  /** The request's price by part. */
  bill(input: PriceInput): Bill;
  /** USD, or null when neither the overrides nor the price data know the model: `bill(input).costUsd`. */
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

const UNPRICED: Bill = { costUsd: null, parts: null, unknownModel: false };
const UNKNOWN: Bill = { costUsd: null, parts: null, unknownModel: true };
/** A price known only as a whole (images, audio): no parts. */
const whole = (costUsd: number | null, unknownModel = false): Bill => ({ costUsd, parts: null, unknownModel });

export function createPriceBook(overrides: readonly PriceOverride[] = []): PriceBook {
  const findOverride = (provider: string, model: string) =>
    overrides.find(
      (o) =>
        (o.provider === undefined || o.provider === provider) &&
        (o.model.endsWith('*') ? model.startsWith(o.model.slice(0, -1)) : o.model === model),
    );
  const bill = (input: PriceInput): Bill => {
    const model = input.model ?? (input.image ? DEFAULT_IMAGE_MODEL : null);
    if (!model) return UNPRICED;
    const override = findOverride(input.provider, model);
    if (override) return overrideBill(override, input);
    return libraryBill(input, model);
  };
  return {
    bill,
    cost: (input) => bill(input).costUsd,
    outputCap(provider, model, promptTokens) {
      const override = findOverride(provider, model);
      if (override?.maxOutputTokens !== undefined) return override.maxOutputTokens;
      const window = contextWindow(provider, model);
      return window === null ? null : Math.max(0, window - promptTokens);
    },
  };
}

/** USD per million tokens of each kind, and per thousand web searches. */
interface Rates {
  input: number;
  output: number;
  /** Cache reads; input's rate when absent. */
  cacheRead?: number;
  /** 5-minute cache writes; input's rate when absent (providers that bill writes as input). */
  cacheWrite?: number;
  /** 1-hour cache writes; twice input's when absent. */
  cacheWrite1h?: number;
  webSearchPerThousand?: number;
}

/**
 * Anthropic bills a 1-hour cache write at twice the base input rate (a 5-minute one at
 * 1.25×); only Anthropic's usage (direct or through Bedrock) reports 1-hour writes, so a
 * model whose data or override row gives no 1-hour rate pays that.
 */
const CACHE_WRITE_1H_FACTOR = 2;

/** Batch results, and OpenAI's Flex tier (priced as Batch), bill tokens at half price. */
const BATCH_FACTOR = 0.5;
const HALF_PRICE_TIERS = new Set(['batch', 'flex']);

/** The bill of token usage at these rates: every part in micro-dollars first, so the sum is exact where rates are. */
function tokenBill(u: Usage, r: Rates, factor: number): Bill {
  const reads = u.cachedTokens ?? 0;
  const writes = u.cacheWriteTokens ?? 0;
  const writes1h = Math.min(u.cacheWrite1hTokens ?? 0, writes);
  const plain = Math.max(0, (u.promptTokens ?? 0) - reads - writes);
  const micro = {
    input: plain * r.input * factor,
    cachedInput: reads * (r.cacheRead ?? r.input) * factor,
    cacheWrite: (writes - writes1h) * (r.cacheWrite ?? r.input) * factor,
    cacheWrite1h: writes1h * (r.cacheWrite1h ?? CACHE_WRITE_1H_FACTOR * r.input) * factor,
    output: (u.completionTokens ?? 0) * r.output * factor,
    // Per search, not per token: no batch or tier price.
    webSearch: (u.webSearchRequests ?? 0) * (r.webSearchPerThousand ?? 0) * 1000,
  };
  const total =
    micro.input + micro.cachedInput + micro.cacheWrite + micro.cacheWrite1h + micro.output + micro.webSearch;
  const usd = (m: number) => m / 1_000_000;
  return {
    costUsd: usd(total),
    parts: {
      input: usd(micro.input),
      cachedInput: usd(micro.cachedInput),
      cacheWrite: usd(micro.cacheWrite),
      cacheWrite1h: usd(micro.cacheWrite1h),
      output: usd(micro.output),
      webSearch: usd(micro.webSearch),
    },
    unknownModel: false,
  };
}

const tierOf = (u: Usage): string | null => u.serviceTier?.toLowerCase() ?? null;
const factorOf = (input: PriceInput, u: Usage) =>
  input.batch || HALF_PRICE_TIERS.has(tierOf(u) ?? '') ? BATCH_FACTOR : 1;

function overrideBill(o: PriceOverride, input: PriceInput): Bill {
  if (input.image && o.perImage !== undefined) return whole(o.perImage * input.image.n);
  const u = input.usage;
  if (u?.audioSeconds != null && o.perAudioMinute !== undefined) return whole((o.perAudioMinute * u.audioSeconds) / 60);
  if (!u || o.inputPerMTok === undefined) return UNPRICED;
  const rates: Rates = {
    input: o.inputPerMTok,
    output: o.outputPerMTok ?? 0,
    cacheRead: o.cachedInputPerMTok,
    cacheWrite: o.cacheWritePerMTok,
    cacheWrite1h: o.cacheWrite1hPerMTok,
    webSearchPerThousand: o.webSearchPerThousand,
  };
  return tokenBill(u, rates, factorOf(input, u));
}

function libraryBill(input: PriceInput, model: string): Bill {
  const u = input.usage;
  // Image answers with token usage (gpt-image-1) are priced by tokens, others by the image.
  if (input.image && !(u && u.promptTokens !== null)) {
    const each = imagePrice(model, input.image.quality, input.image.size);
    return each === null ? UNKNOWN : whole(each * input.image.n);
  }
  if (u?.audioSeconds != null && u.promptTokens === null) return audioBill(u.audioSeconds, model, input.provider);
  const price = dataPrices(input.provider, model);
  if (price === null) return UNKNOWN;
  if (!u) return UNPRICED;
  return tokenBill(u, ratesAtTier(ratesOf(price, u.promptTokens ?? 0), u, model, input.provider), factorOf(input, u));
}

/** A rate of the price data at this prompt size: tiered rates (long context) go by the prompt's tokens. */
function rateOf(price: ModelPrice[string], promptTokens: number): number | undefined {
  if (price === undefined || typeof price === 'number') return price;
  let rate = price.base;
  for (const tier of price.tiers) if (promptTokens > tier.start) rate = tier.price;
  return rate;
}

function ratesOf(price: ModelPrice, promptTokens: number): Rates {
  const rate = (key: string) => rateOf(price[key], promptTokens);
  return {
    input: rate('input_mtok') ?? 0,
    output: rate('output_mtok') ?? 0,
    cacheRead: rate('cache_read_mtok'),
    cacheWrite: rate('cache_write_mtok'),
    cacheWrite1h: rate('cache_write_1h_mtok'),
    webSearchPerThousand: rate('web_searches_kcount'),
  };
}

/** OpenAI's Priority tier has its own token rates (see priority-prices.ts); other tiers keep the standard ones. */
function ratesAtTier(rates: Rates, u: Usage, model: string, provider: string): Rates {
  if (provider !== 'openai' || tierOf(u) !== 'priority') return rates;
  const priority = priorityRates(model);
  if (!priority) {
    const f = PRIORITY_FACTOR;
    const cacheRead = rates.cacheRead === undefined ? undefined : rates.cacheRead * f;
    return { ...rates, input: rates.input * f, output: rates.output * f, cacheRead };
  }
  return { ...rates, ...priority, cacheRead: priority.cachedInput ?? priority.input };
}

function audioBill(seconds: number, model: string, provider: string): Bill {
  try {
    const result = calcPrice({ audio_seconds: seconds }, model, { providerId: provider });
    return result === null ? UNKNOWN : whole(result.total_price);
  } catch {
    // The data refuses usage it cannot price (audio for a token-priced model).
    return UNPRICED;
  }
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

/**
 * Per provider and model, how to ask the price data: calcPrice walks every model's match
 * rules of the provider on each call, so once a model is found it is asked of a provider
 * holding only that model (same prices, tiers and dates). null: the data does not know it.
 */
const lookups = new Map<string, PriceOptions | null>();
const MAX_LOOKUPS = 10_000;

/**
 * The model's rates in effect, by model and minute: asked of the data once a minute. Exact,
 * because the data changes prices by date or at whole minutes of the day, never in between.
 */
const current = new Map<string, ModelPrice | null>();

/** The model's rates now, or null when the price data does not know the model. */
function dataPrices(provider: string, model: string): ModelPrice | null {
  const key = `${provider}\u0000${model}`;
  const known = lookups.get(key);
  if (known === null) return null;
  const minuteKey = `${key}\u0000${Math.floor(Date.now() / 60_000)}`;
  const memo = current.get(minuteKey);
  if (memo !== undefined) return memo;
  let result: ReturnType<typeof calcPrice>;
  try {
    result = calcPrice({ input_tokens: 0, output_tokens: 0 }, model, known ?? { providerId: provider });
  } catch {
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
  const price = result?.model_price ?? null;
  if (current.size >= MAX_LOOKUPS) current.clear();
  current.set(minuteKey, price);
  return price;
}
