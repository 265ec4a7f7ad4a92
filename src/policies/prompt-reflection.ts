// Prompt reflection: text marked ||like this|| in the prompt (system messages for chat)
// must not appear in the answer. Found as plain text, case aside, never by a regex.

import { z } from 'zod';
import type { Exchange } from '../exchange.js';
import { REFLECTION_MODES, type ReflectionMode } from '../policy-settings.js';
import { CHAT_ENDPOINTS, promptTexts } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';
import { PhraseMatcher, PhraseWindow } from './phrase-matcher.js';
import { definePolicy } from './policy.js';

const ENDPOINTS: readonly Endpoint[] = ['completions', 'chat.completions', 'anthropic.messages', 'gemini.generate'];

export const REFLECTION_FLAG = {
  type: 'policy_prompt_reflection',
  description: 'The response contained a reflection of the original prompt',
} as const;

const MARKER = '||';

/** The texts between pairs of `||` markers. */
export function protectedTexts(text: string): string[] {
  const found: string[] = [];
  let from = 0;
  for (;;) {
    const open = text.indexOf(MARKER, from);
    if (open === -1) break;
    const close = text.indexOf(MARKER, open + MARKER.length);
    if (close === -1) break;
    const inner = text.slice(open + MARKER.length, close).trim();
    if (inner !== '') found.push(inner);
    from = close + MARKER.length;
  }
  return found;
}

function protectedTextsOf(ex: Exchange): string[] {
  return promptTexts(ex.endpoint, ex.json)
    .filter(
      (prompt) => !CHAT_ENDPOINTS.includes(ex.endpoint) || prompt.role === 'system' || prompt.role === 'developer',
    )
    .flatMap((prompt) => protectedTexts(prompt.text));
}

const RANK: Record<ReflectionMode, number> = { none: 0, audit: 1, redact: 2, block: 3 };

export const promptReflection = definePolicy({
  setting: 'promptReflection',
  header: 'x-usagepanda-prompt-reflection',
  headerSchema: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(REFLECTION_MODES, { error: `expected one of ${REFLECTION_MODES.join(', ')}` })),
  endpoints: ENDPOINTS,
  isOn: (mode) => mode !== 'none',
  loosens: (override, configured) => RANK[override] < RANK[configured],
  onAnswer(ex, mode) {
    const texts = protectedTextsOf(ex);
    if (texts.length === 0) return undefined;
    const matcher = new PhraseMatcher(
      texts.map((text) => [text, 'reflection'] as const),
      { wordBoundaries: false },
    );
    return new PhraseWindow(
      matcher,
      () => {
        if (!ex.flags.some((flag) => flag.type === REFLECTION_FLAG.type)) {
          ex.flag({ ...REFLECTION_FLAG }, { block: mode === 'block' });
        }
        return { redact: mode === 'redact' };
      },
      mode === 'audit',
    );
  },
});
