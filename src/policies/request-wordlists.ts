// Request wordlists: each prompt text is checked against the chosen lists; a hit is
// flagged, redacted to `****` before forwarding, or blocks the request.

import { promptTexts } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';
import { multipartPromptTexts } from '../wire/prompt.js';
import { scanWhole } from './phrase-matcher.js';
import { definePolicy } from './policy.js';
import { hasWordlists, loosensWordlists, recordHit, wordlistHeader, wordlistMatcher } from './wordlists.js';

export const TEXT_ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'edits',
  'embeddings',
  'moderations',
  'responses',
  'responses.compact',
  'conversations',
  'conversations.items',
  'audio.speech',
  'images.generations',
  'images.edits',
  'audio.transcriptions',
  'audio.translations',
  'anthropic.messages',
  'anthropic.count_tokens',
  'gemini.generate',
  'gemini.count_tokens',
  'gemini.embed',
  'gemini.cached_contents',
];

export const requestWordlists = definePolicy({
  setting: 'requestWordlists',
  header: 'x-usagepanda-request-wordlists',
  headerSchema: wordlistHeader,
  endpoints: TEXT_ENDPOINTS,
  isOn: hasWordlists,
  loosens: loosensWordlists,
  onRequest(ex, lists) {
    const matcher = wordlistMatcher(lists, ex.settings?.customWordlist ?? []);
    const fields = ex.body.kind === 'multipart' ? ex.body.fields : undefined;
    const multipart = multipartPromptTexts(ex.endpoint, fields, (field) => ex.rewrittenFields.add(field));
    for (const prompt of [...promptTexts(ex.endpoint, ex.json), ...multipart]) {
      const next = scanWhole(matcher, prompt.text, (hit) => recordHit(ex, 'Request', lists, hit));
      if (next !== prompt.text) {
        prompt.set(next);
        ex.bodyRewritten = true;
      }
    }
  },
});
