// Azure OpenAI: OpenAI's request and answer formats, sent to a deployment
// (`/openai/deployments/{deployment}/{operation}?api-version=`) with an `api-key` header.
import type { ProviderAdapter } from '../provider.js';

/** A recent GA version; a target's `apiVersion` sets another. */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

const SERVED = new Set([
  'chat.completions',
  'completions',
  'embeddings',
  'images.generations',
  'audio.transcriptions',
  'audio.translations',
  'audio.speech',
]);

export const azure: ProviderAdapter = {
  name: 'azure',
  // There is no Azure default: the resource is the target's baseUrl or the x-usagepanda-azure-resource header.
  defaultBaseUrl: () => 'https://azure-resource-not-set.openai.azure.com',
  serves: (endpoint) => SERVED.has(endpoint),
  needsApiKey: true,
  request(call) {
    const model = call.model ?? '';
    const deployment = call.deployments?.[model] ?? model;
    const params = new URLSearchParams(call.query.slice(1));
    params.set('api-version', call.apiVersion ?? DEFAULT_AZURE_API_VERSION);
    const headers = { ...call.headers, 'api-key': call.apiKey ?? '' };
    return {
      base: call.baseUrl,
      method: call.method,
      path: `/openai/deployments/${encodeURIComponent(deployment)}${call.path}?${params}`,
      headers,
      body: call.rawBody,
    };
  },
};
