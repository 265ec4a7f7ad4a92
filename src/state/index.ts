// Picks the shared state: Redis when a URL is configured, else this process's memory.
import { MemoryState } from './memory.js';
import { RedisState } from './redis.js';
import type { SharedState } from './state.js';

export async function openState(options: {
  redisUrl?: string;
  prefix?: string;
  onError?(err: Error): void;
}): Promise<SharedState> {
  if (!options.redisUrl) return new MemoryState();
  return RedisState.open({ url: options.redisUrl, prefix: options.prefix, onError: options.onError });
}
