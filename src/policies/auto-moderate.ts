// Auto-moderation: the user-provided text goes to the upstream moderation endpoint first,
// with the request's own provider key; a flagged result blocks, a failed check is a 502.
import { z } from 'zod';
import { moderationFailed } from '../errors.js';
import { promptTexts } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';
import { booleanHeader, definePolicy, loosensBoolean } from './policy.js';

const ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'edits',
  'embeddings',
  'responses',
  'responses.compact',
  'conversations',
  'conversations.items',
  'anthropic.messages',
  'gemini.generate',
  'gemini.embed',
  'gemini.cached_contents',
];

const ModerationAnswer = z.object({
  results: z.array(z.object({ flagged: z.boolean(), categories: z.record(z.string(), z.boolean().nullish()) })),
});

export const autoModerate = definePolicy({
  setting: 'autoModerate',
  header: 'x-usagepanda-auto-moderate',
  headerSchema: booleanHeader,
  endpoints: ENDPOINTS,
  isOn: (on) => on,
  loosens: loosensBoolean,
  async onRequest(ex, _on, ctx) {
    // A request already refused is not worth a call upstream.
    if (ex.blocked) return;
    // What the end user wrote: system and developer text is the application's own.
    const input = promptTexts(ex.endpoint, ex.json)
      .filter((prompt) => prompt.role === 'user' && prompt.text.trim() !== '')
      .map((prompt) => prompt.text);
    if (input.length === 0) return;
    let answer: { status: number; json: unknown };
    try {
      answer = await ctx.callUpstream('/moderations', { input });
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw moderationFailed((err as Error).message ?? 'no answer');
    }
    if (answer.status !== 200) throw moderationFailed(`upstream answered ${answer.status}`);
    const parsed = ModerationAnswer.safeParse(answer.json);
    if (!parsed.success) throw moderationFailed('unexpected answer from the moderation endpoint');
    const categories = new Set<string>();
    for (const result of parsed.data.results) {
      if (!result.flagged) continue;
      for (const [name, hit] of Object.entries(result.categories)) if (hit) categories.add(name);
    }
    if (!parsed.data.results.some((result) => result.flagged)) return;
    ex.moderated = true;
    ex.flag(
      { type: 'policy_auto_moderate', description: `Moderation flagged this request: ${[...categories].join(', ')}` },
      { block: true },
    );
  },
});
