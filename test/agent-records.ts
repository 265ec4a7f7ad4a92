// What the agent and native-SDK tests read back: every record of one connection, and the price a
// call's usage should cost, computed from the price data on its own rather than by the gateway.
import { calcPrice } from '@pydantic/genai-prices';
import type { LogRecord } from '../src/domain.js';
import type { Stack } from './harness.js';

/** Every stored record of the connection, oldest first, after the log queue is drained. */
export async function recordsOf(stack: Stack, connectionId: string): Promise<LogRecord[]> {
  await stack.gateway.logWriter.drain();
  const page = await stack.admin('GET', `/api/logs?connection=${connectionId}&limit=500`);
  const ids: string[] = page.json.data.map((r: { id: string }) => r.id);
  const records = await Promise.all(ids.map((id) => stack.record(id)));
  return records.reverse();
}

/** The tokens of one call, in the price data's words: input counts cache reads and writes too. */
export interface PricedUsage {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** USD for the usage at the price data's rates for the provider (`anthropic`, `openai`, `google`). */
export function expectedCost(provider: string, model: string, usage: PricedUsage): number {
  const price = calcPrice(
    {
      input_tokens: usage.input,
      output_tokens: usage.output,
      ...(usage.cacheRead ? { cache_read_tokens: usage.cacheRead } : {}),
      ...(usage.cacheWrite ? { cache_write_tokens: usage.cacheWrite } : {}),
    },
    model,
    { providerId: provider },
  );
  if (!price) throw new Error(`the price data has no ${provider} ${model}`);
  return price.total_price;
}

/** An Anthropic `usage` object's prompt as the gateway records it: input, cache reads and writes added. */
export const anthropicPrompt = (u: {
  input_tokens: number;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}) => u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
