// OpenAI's Priority processing rates (`service_tier: "priority"`), USD per million tokens.
// The price data (@pydantic/genai-prices) has standard rates only, so these come from
// OpenAI's published Priority processing table (openai.com/api-priority-processing); the
// premium differs by model (1.7× to 2× standard), so it is a table and not a factor.

export interface PriorityRates {
  input: number;
  /** Cached input; null where OpenAI lists none (cache reads then bill as input). */
  cachedInput: number | null;
  output: number;
}

const rates = (input: number, cachedInput: number | null, output: number): PriorityRates => ({
  input,
  cachedInput,
  output,
});

export const OPENAI_PRIORITY_PRICES: Readonly<Record<string, PriorityRates>> = {
  'gpt-5.4': rates(5, 0.5, 30),
  'gpt-5.4-mini': rates(1.5, 0.15, 9),
  'gpt-5.2': rates(3.5, 0.35, 28),
  'gpt-5.1': rates(2.5, 0.25, 20),
  'gpt-5.1-codex': rates(2.5, 0.25, 20),
  'gpt-5': rates(2.5, 0.25, 20),
  'gpt-5-codex': rates(2.5, 0.25, 20),
  'gpt-5-mini': rates(0.45, 0.045, 3.6),
  'gpt-4.1': rates(3.5, 0.875, 14),
  'gpt-4.1-mini': rates(0.7, 0.175, 2.8),
  'gpt-4.1-nano': rates(0.2, 0.05, 0.8),
  'gpt-4o': rates(4.25, 2.125, 17),
  'gpt-4o-2024-05-13': rates(8.75, null, 26.25),
  'gpt-4o-mini': rates(0.25, 0.125, 1),
  o3: rates(3.5, 0.875, 14),
  'o4-mini': rates(2, 0.5, 8),
};

/**
 * What a model not in the table pays for Priority: twice its standard rates, the premium of
 * the GPT-5 family (most listed models pay 1.7× to 2×).
 */
export const PRIORITY_FACTOR = 2;

/** A dated snapshot (`gpt-4o-2024-08-06`) is priced as its model unless the table lists the snapshot itself. */
export function priorityRates(model: string): PriorityRates | null {
  return OPENAI_PRIORITY_PRICES[model] ?? OPENAI_PRIORITY_PRICES[model.replace(/-\d{4}-\d{2}-\d{2}$/, '')] ?? null;
}
