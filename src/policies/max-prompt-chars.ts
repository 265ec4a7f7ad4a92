// Max prompt characters: blocks a request whose prompt text, all parts summed, is too long.

import { promptTexts } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';
import { countHeader, definePolicy, loosensLimit } from './policy.js';

// Conversation items become the prompt of later responses: each addition is held to the limit too.
const ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'edits',
  'responses',
  'responses.compact',
  'conversations',
  'conversations.items',
  'anthropic.messages',
  'gemini.generate',
  'gemini.cached_contents',
];

const SURROGATE_PAIRS = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;

/** Characters as people count them: code points, so an emoji is one. */
function characters(text: string): number {
  // Each surrogate pair is two UTF-16 units of one code point; most text has none.
  return text.length - (text.match(SURROGATE_PAIRS)?.length ?? 0);
}

export const maxPromptChars = definePolicy({
  setting: 'maxPromptChars',
  header: 'x-usagepanda-max-prompt-chars',
  headerSchema: countHeader,
  endpoints: ENDPOINTS,
  isOn: (limit) => limit > 0,
  loosens: loosensLimit,
  onRequest(ex, limit) {
    let length = 0;
    for (const prompt of promptTexts(ex.endpoint, ex.json)) length += characters(prompt.text);
    if (length <= limit) return;
    ex.flag(
      {
        type: 'policy_max_prompt_chars',
        description: `Config set to max prompt chars of: ${limit}; prompt was: ${length}`,
      },
      { block: true },
    );
  },
});
