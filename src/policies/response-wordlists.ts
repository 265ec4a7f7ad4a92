// Response wordlists: the answer text, whole or streamed, is checked against the chosen
// lists; a hit is flagged, redacted to `****`, or ends the answer with a 422 (JSON) or
// an error event (stream).
import type { Endpoint } from '../wire/endpoints.js';
import { PhraseWindow } from './phrase-matcher.js';
import { definePolicy } from './policy.js';
import { hasWordlists, loosensWordlists, recordHit, wordlistHeader, wordlistMatcher } from './wordlists.js';

const ANSWER_ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'responses',
  'anthropic.messages',
  'gemini.generate',
];

export const responseWordlists = definePolicy({
  setting: 'responseWordlists',
  header: 'x-usagepanda-response-wordlists',
  headerSchema: wordlistHeader,
  endpoints: ANSWER_ENDPOINTS,
  isOn: hasWordlists,
  loosens: loosensWordlists,
  onAnswer(ex, lists) {
    const matcher = wordlistMatcher(lists, ex.settings?.customWordlist ?? []);
    const auditOnly = Object.values(lists).every((action) => action === undefined || action === 'audit');
    return new PhraseWindow(matcher, (hit) => recordHit(ex, 'Response', lists, hit), auditOnly);
  },
});
