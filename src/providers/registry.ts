// Every provider adapter by name: adding a provider is adding its folder and a line here.
import type { ProviderName } from '../domain.js';
import { anthropic } from './anthropic/index.js';
import { azure } from './azure/index.js';
import { bedrock } from './bedrock/index.js';
import { gemini } from './gemini/index.js';
import { openai } from './openai-compatible.js';
import type { ProviderAdapter } from './provider.js';

export const ADAPTERS: Readonly<Record<ProviderName, ProviderAdapter | undefined>> = {
  openai,
  azure,
  anthropic,
  gemini,
  bedrock,
};
