import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { anthropicUsage } from '../providers/anthropic/usage.js';
import { createPriceBook } from './prices.js';
import { usageFrom } from './usage.js';

const usage = (prompt: number, completion: number, cached: number | null = null) => ({
  promptTokens: prompt,
  completionTokens: completion,
  totalTokens: prompt + completion,
  cachedTokens: cached,
});

describe('usage from answers', () => {
  it('reads cached and reasoning tokens in the Chat spelling', () => {
    const answer = {
      usage: {
        prompt_tokens: 100,
        completion_tokens: 40,
        total_tokens: 140,
        prompt_tokens_details: { cached_tokens: 64 },
        completion_tokens_details: { reasoning_tokens: 32 },
      },
    };
    expect(usageFrom(answer)).toMatchObject({ promptTokens: 100, cachedTokens: 64, reasoningTokens: 32 });
  });

  it('reads the audio duration of transcriptions in both spellings', () => {
    expect(usageFrom({ text: 'hi', duration: 12.5 })?.audioSeconds).toBe(12.5);
    expect(usageFrom({ text: 'hi', usage: { type: 'duration', seconds: 9 } })?.audioSeconds).toBe(9);
    expect(usageFrom({ text: 'hi' })).toBeNull();
  });
});

describe('price book', () => {
  const book = createPriceBook();
  const chat = { provider: 'openai', endpoint: 'chat.completions' as const };

  it('applies the cached-input rate of the price data', () => {
    const expected = calcPrice({ input_tokens: 1000, cache_read_tokens: 600, output_tokens: 10 }, 'gpt-4o', {
      providerId: 'openai',
    })?.total_price;
    expect(expected).toBeGreaterThan(0);
    expect(book.cost({ ...chat, model: 'gpt-4o', usage: usage(1000, 10, 600) })).toBe(expected);
    expect(book.cost({ ...chat, model: 'gpt-4o', usage: usage(1000, 10) })).toBeGreaterThan(expected ?? 0);
  });

  it('prices audio by its reported duration', () => {
    const expected = calcPrice({ audio_seconds: 90 }, 'whisper-1', { providerId: 'openai' })?.total_price;
    const audio = { ...usage(0, 0), promptTokens: null, completionTokens: null, totalTokens: null, audioSeconds: 90 };
    expect(
      book.cost({ provider: 'openai', endpoint: 'audio.transcriptions', model: 'whisper-1', usage: audio }),
    ).toBeCloseTo(expected ?? Number.NaN, 12);
  });

  it('returns null for an unknown model and for a known model without usage', () => {
    expect(book.cost({ ...chat, model: 'nobody-knows-me', usage: usage(10, 10) })).toBeNull();
    expect(book.cost({ ...chat, model: 'gpt-4o', usage: null })).toBeNull();
  });

  it('prefers overrides, matching prefixes and providers, with cached and audio rates', () => {
    const custom = createPriceBook([
      { model: 'ft:gpt-4o-mini:*', inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 1 },
      { model: 'whisper-1', provider: 'openai', perAudioMinute: 0.01 },
      { model: 'gpt-4o', provider: 'azure', inputPerMTok: 100 },
    ]);
    expect(custom.cost({ ...chat, model: 'ft:gpt-4o-mini:acme:x1', usage: usage(1000, 100, 400) })).toBeCloseTo(
      (600 * 2 + 400 * 1 + 100 * 8) / 1e6,
      15,
    );
    const audio = { promptTokens: null, completionTokens: null, totalTokens: null, audioSeconds: 30 };
    expect(
      custom.cost({ provider: 'openai', endpoint: 'audio.transcriptions', model: 'whisper-1', usage: audio }),
    ).toBeCloseTo(0.005, 15);
    // The azure-only row does not apply to openai: the price data does.
    expect(custom.cost({ ...chat, model: 'gpt-4o', usage: usage(1000, 0) })).toBeCloseTo(
      calcPrice({ input_tokens: 1000 }, 'gpt-4o', { providerId: 'openai' })?.total_price ?? Number.NaN,
      15,
    );
  });
});

describe('price lookups after the first', () => {
  it('price every later request of a model exactly as the price data does, tiers and cached input included', () => {
    const book = createPriceBook();
    const cases = [
      { provider: 'openai', model: 'gpt-4o-mini' },
      { provider: 'openai', model: 'gpt-4o-2024-08-06' },
      { provider: 'google', model: 'gemini-2.5-pro' }, // tiered: more per token above 200k prompt tokens
    ];
    for (const { provider, model } of cases) {
      for (const [prompt, completion, cached] of [
        [1000, 100, 0],
        [300_000, 2000, 0],
        [5000, 10, 4000],
      ] as const) {
        const expected = calcPrice(
          { input_tokens: prompt, output_tokens: completion, ...(cached ? { cache_read_tokens: cached } : {}) },
          model,
          { providerId: provider },
        )?.total_price;
        expect(expected, `${provider}/${model}`).toBeGreaterThan(0);
        const cost = book.cost({
          provider,
          endpoint: 'chat.completions',
          model,
          usage: usage(prompt, completion, cached || null),
        });
        expect(cost, `${provider}/${model} at ${prompt} prompt tokens`).toBeCloseTo(expected ?? Number.NaN, 15);
        const again = book.cost({
          provider,
          endpoint: 'chat.completions',
          model,
          usage: usage(prompt, completion, cached || null),
        });
        expect(again, 'the same usage again').toBeCloseTo(expected ?? Number.NaN, 15);
      }
    }
    // A tier really is in play: the second prompt costs more per token than the first.
    const perToken = (prompt: number) =>
      (book.cost({
        provider: 'google',
        endpoint: 'chat.completions',
        model: 'gemini-2.5-pro',
        usage: usage(prompt, 0),
      }) ?? 0) / prompt;
    expect(perToken(300_000)).toBeGreaterThan(perToken(1000));
  });
});

describe('prices as providers bill them (literal rates, USD per million tokens)', () => {
  const book = createPriceBook();
  const anthropic = (usage: Record<string, unknown>) =>
    book.bill({
      provider: 'anthropic',
      endpoint: 'anthropic.messages',
      model: 'claude-sonnet-4-5',
      usage: anthropicUsage(usage),
    });

  it('prices Anthropic 5-minute cache writes at $3.75, not as input at $3', () => {
    // input $3, 5-minute write $3.75, output $15: 10 × 3 + 2000 × 3.75 + 102 × 15 = 9060 micro-dollars.
    const bill = anthropic({ input_tokens: 10, cache_creation_input_tokens: 2000, output_tokens: 102 });
    expect(bill.costUsd).toBeCloseTo(0.00906, 12);
    expect(bill.parts).toMatchObject({ input: 0.00003, cacheWrite: 0.0075, cacheWrite1h: 0, output: 0.00153 });
  });

  it('prices 1-hour writes at $6, reads at $0.30 and web searches at $10 per thousand', () => {
    const bill = anthropic({
      input_tokens: 100,
      cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      cache_read_input_tokens: 5000,
      output_tokens: 200,
      server_tool_use: { web_search_requests: 3 },
    });
    // 100 × 3 + 1000 × 3.75 + 2000 × 6 + 5000 × 0.30 + 200 × 15 = 20,550 µ$; 3 searches = 30,000 µ$.
    expect(bill.costUsd).toBeCloseTo(0.05055, 12);
    expect(bill.parts).toMatchObject({ cacheWrite1h: 0.012, cachedInput: 0.0015, webSearch: 0.03 });
  });

  it('prices OpenAI cached input at its rate and the flex tier at half', () => {
    // gpt-4o: input $2.50, cached $1.25, output $10.
    const usage = { promptTokens: 1000, completionTokens: 100, totalTokens: 1100, cachedTokens: 400 };
    const standard = book.bill({ provider: 'openai', endpoint: 'chat.completions', model: 'gpt-4o', usage });
    expect(standard.costUsd).toBeCloseTo(600 * 2.5e-6 + 400 * 1.25e-6 + 100 * 10e-6, 12);
    const batch = book.bill({ provider: 'openai', endpoint: 'chat.completions', model: 'gpt-4o', usage, batch: true });
    expect(batch.costUsd).toBeCloseTo((standard.costUsd ?? 0) / 2, 12);
  });
});
