// Per-image prices for image models that are billed by the image rather than by tokens.
// The price data (@pydantic/genai-prices) has token rates only, so these come from
// OpenAI's published per-image prices (USD per image, by quality and size).
export const IMAGE_PRICES: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, number>>>>>> = {
  'dall-e-2': {
    standard: { '256x256': 0.016, '512x512': 0.018, '1024x1024': 0.02 },
  },
  'dall-e-3': {
    standard: { '1024x1024': 0.04, '1024x1792': 0.08, '1792x1024': 0.08 },
    hd: { '1024x1024': 0.08, '1024x1792': 0.12, '1792x1024': 0.12 },
  },
  'gpt-image-1': {
    low: { '1024x1024': 0.011, '1024x1536': 0.016, '1536x1024': 0.016 },
    medium: { '1024x1024': 0.042, '1024x1536': 0.063, '1536x1024': 0.063 },
    high: { '1024x1024': 0.167, '1024x1536': 0.25, '1536x1024': 0.25 },
  },
};

/** What OpenAI uses when the request leaves them out. */
const DEFAULTS: Readonly<Record<string, { quality: string; size: string }>> = {
  'dall-e-2': { quality: 'standard', size: '1024x1024' },
  'dall-e-3': { quality: 'standard', size: '1024x1024' },
  // `auto` quality and size are billed as what the model picked; the request cannot tell, so medium square.
  'gpt-image-1': { quality: 'medium', size: '1024x1024' },
};

/** The price of one image, or null when model, quality or size is not in the table. */
export function imagePrice(model: string, quality: string | undefined, size: string | undefined): number | null {
  const table = IMAGE_PRICES[model];
  const defaults = DEFAULTS[model];
  if (!table || !defaults) return null;
  const q = !quality || quality === 'auto' || model === 'dall-e-2' ? defaults.quality : quality;
  const s = !size || size === 'auto' ? defaults.size : size;
  return table[q]?.[s] ?? null;
}
