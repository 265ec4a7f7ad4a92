// What a log record keeps of its bill besides the total: the usage parts priced apart (cache
// writes and their 1-hour part, web searches), the service tier, the cost of each part, and a
// `price_unknown` flag when no price is known for the model, saying how to give it one.
import type { Flag, LogRecord } from '../domain.js';
import type { Exchange } from '../exchange.js';
import { type PriceBook, priceProviderOf } from './prices.js';

export const PRICE_UNKNOWN = 'price_unknown';

/** The flag of a record whose model has no price; it never blocks (it is raised after the answer). */
export function priceUnknownFlag(model: string, provider: string): Flag {
  return {
    type: PRICE_UNKNOWN,
    description: `No price known for model ${model} (provider ${provider}); add a row for it to the prices: table of the config file`,
  };
}

/**
 * The record with its billed parts, given the exchange it was made from. The record's costUsd
 * (made by the proxy's costOf from the same price book) says whether anything was billed: 0
 * is nothing (blocked, auto-replied, free), null is no price. A breakdown whose sum is not
 * that cost (the proxy priced with an option this call does not know) is left out rather than shown wrong.
 */
export function withBilledParts(record: LogRecord, ex: Exchange, prices: PriceBook): LogRecord {
  const u = ex.usage;
  const billed: LogRecord = {
    ...record,
    cacheWriteTokens: u?.cacheWriteTokens ?? null,
    cacheWrite1hTokens: u?.cacheWrite1hTokens ?? null,
    webSearchRequests: u?.webSearchRequests ?? null,
    serviceTier: u?.serviceTier ?? null,
    costBreakdown: null,
  };
  if (record.costUsd === 0 || !u) return billed;
  const model = ex.providerModel ?? ex.model;
  const bill = prices.bill({ provider: priceProviderOf(record.provider), endpoint: ex.endpoint, model, usage: u });
  if (record.costUsd === null) {
    // The records Alerts lists as unpriced (a success that used tokens), when the model is the reason.
    const unpriced = bill.unknownModel && model !== null && record.status < 400 && (record.totalTokens ?? 0) > 0;
    if (unpriced) billed.flags = [...record.flags, priceUnknownFlag(model, record.provider)];
    return billed;
  }
  if (bill.costUsd === record.costUsd) billed.costBreakdown = bill.parts;
  return billed;
}
