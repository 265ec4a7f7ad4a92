// Max tokens: blocks a request whose answer limit is missing or above the configured one.
// A request may name its limit under more than one field (`max_completion_tokens` and
// `max_tokens`): every one present is held to the limit, since upstream may honour any.
import { OUTPUT_ENDPOINTS, outputCaps } from '../providers/view.js';
import { countHeader, definePolicy, loosensLimit } from './policy.js';

export const maxTokens = definePolicy({
  setting: 'maxTokens',
  header: 'x-usagepanda-max-tokens',
  headerSchema: countHeader,
  endpoints: OUTPUT_ENDPOINTS,
  isOn: (limit) => limit > 0,
  loosens: loosensLimit,
  onRequest(ex, limit) {
    const caps = outputCaps(ex.endpoint, ex.json);
    const over = caps.find((cap) => typeof cap !== 'number' || cap > limit);
    if (caps.length > 0 && over === undefined) return;
    const shown = caps.length === 0 ? 'not set' : JSON.stringify(over);
    ex.flag(
      { type: 'policy_max_tokens', description: `Config set to max tokens of: ${limit}; request was: ${shown}` },
      { block: true },
    );
  },
});
