// OpenAI and every OpenAI-compatible server: the request goes as the client sent it.
import type { ProviderAdapter } from './provider.js';

export const openai: ProviderAdapter = {
  name: 'openai',
  defaultBaseUrl: () => 'https://api.openai.com/v1',
  serves: () => true,
  needsApiKey: true,
  request(call) {
    return {
      base: call.baseUrl,
      method: call.method,
      path: call.path + call.query,
      headers: { ...call.headers, authorization: `Bearer ${call.apiKey ?? ''}` },
      body: call.rawBody,
    };
  },
};
