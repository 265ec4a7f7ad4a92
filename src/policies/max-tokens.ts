// Max tokens: blocks a request whose answer limit is missing or above the configured one.

import type { Exchange } from '../exchange.js';
import type { Endpoint } from '../wire/endpoints.js';
import { countHeader, definePolicy, loosensLimit } from './policy.js';

const ENDPOINTS: readonly Endpoint[] = ['completions', 'chat.completions', 'responses'];

/** The answer limit the request asks for, under whichever name its endpoint uses. */
function requestedLimit(ex: Exchange): unknown {
  const body = ex.json;
  if (!body) return undefined;
  if (ex.endpoint === 'responses') return body.max_output_tokens;
  return body.max_completion_tokens ?? body.max_tokens;
}

export const maxTokens = definePolicy({
  setting: 'maxTokens',
  header: 'x-usagepanda-max-tokens',
  headerSchema: countHeader,
  endpoints: ENDPOINTS,
  isOn: (limit) => limit > 0,
  loosens: loosensLimit,
  onRequest(ex, limit) {
    const requested = requestedLimit(ex);
    const ok = typeof requested === 'number' && requested <= limit;
    if (ok) return;
    const shown = requested === undefined || requested === null ? 'not set' : JSON.stringify(requested);
    ex.flag(
      { type: 'policy_max_tokens', description: `Config set to max tokens of: ${limit}; request was: ${shown}` },
      { block: true },
    );
  },
});
