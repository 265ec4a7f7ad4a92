// What the request and response wordlist policies share: the header format
// `profanity:block,dan:redact,custom:audit`, one matcher per combination of lists, and
// the one flag per phase that names every list matched.
import { z } from 'zod';
import type { Exchange } from '../exchange.js';
import {
  WORDLIST_ACTIONS,
  WORDLIST_NAMES,
  type WordlistAction,
  type WordlistName,
  type WordlistSettings,
} from '../policy-settings.js';
import { type PhraseHit, PhraseMatcher } from './phrase-matcher.js';
import { builtInWordlists } from './wordlist-data.js';

export const WORDLISTS_FLAG_TYPE = 'policy_wordlists';

/** `list:action` pairs separated by commas, any case; an empty value checks no list. */
export const wordlistHeader = z.string().transform((value, ctx): WordlistSettings => {
  const settings: WordlistSettings = {};
  for (const item of value.split(',')) {
    const pair = item.trim().toLowerCase();
    if (pair === '') continue;
    const [name, action, ...rest] = pair.split(':').map((part) => part.trim());
    if (!WORDLIST_NAMES.includes(name as WordlistName)) {
      ctx.addIssue({ code: 'custom', message: `unknown wordlist "${name}" (use ${WORDLIST_NAMES.join(', ')})` });
      return z.NEVER;
    }
    if (rest.length > 0 || !WORDLIST_ACTIONS.includes(action as WordlistAction)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown action "${action ?? ''}" for ${name} (use ${WORDLIST_ACTIONS.join(', ')})`,
      });
      return z.NEVER;
    }
    settings[name as WordlistName] = action as WordlistAction;
  }
  return settings;
});

const RANK: Record<WordlistAction | 'off', number> = { off: 0, audit: 1, redact: 2, block: 3 };

/** Loosening: any list the connection checks that the header checks less strictly. */
export function loosensWordlists(override: WordlistSettings, configured: WordlistSettings): boolean {
  return WORDLIST_NAMES.some((name) => RANK[override[name] ?? 'off'] < RANK[configured[name] ?? 'off']);
}

export const hasWordlists = (settings: WordlistSettings) => WORDLIST_NAMES.some((name) => settings[name]);

const MAX_CACHED = 256;
const matchers = new Map<string, PhraseMatcher<WordlistName>>();

/** The matcher for these lists; built once per combination (custom lists differ per connection). */
export function wordlistMatcher(settings: WordlistSettings, custom: readonly string[]): PhraseMatcher<WordlistName> {
  const names = WORDLIST_NAMES.filter((name) => settings[name]);
  const key = JSON.stringify([names, names.includes('custom') ? custom : []]);
  let matcher = matchers.get(key);
  if (!matcher) {
    const builtIn = builtInWordlists();
    const phrases: [string, WordlistName][] = [];
    for (const name of names) {
      for (const phrase of name === 'custom' ? custom : builtIn[name]) phrases.push([phrase, name]);
    }
    matcher = new PhraseMatcher(phrases, { wordBoundaries: true });
    if (matchers.size >= MAX_CACHED) matchers.clear();
    matchers.set(key, matcher);
  }
  return matcher;
}

export type Phase = 'Request' | 'Response';

/**
 * Records a hit: the phase's one flag grows to name every list matched so far, and
 * blocks when any of them is set to block. Answers whether the hit is to be redacted.
 */
export function recordHit(
  ex: Exchange,
  phase: Phase,
  settings: WordlistSettings,
  hit: PhraseHit<WordlistName>,
): { redact: boolean } {
  const actions = hit.tags.map((name) => settings[name]);
  const prefix = `${phase} matched known wordlists: `;
  const index = ex.flags.findIndex((flag) => flag.type === WORDLISTS_FLAG_TYPE && flag.description.startsWith(prefix));
  const existing = index === -1 ? undefined : ex.flags[index];
  const names = new Set(existing ? existing.description.slice(prefix.length).split(', ') : []);
  for (const name of hit.tags) names.add(name);
  const description = prefix + WORDLIST_NAMES.filter((name) => names.has(name)).join(', ');
  const blockingIndex = existing ? ex.blocking.indexOf(existing.description) : -1;
  if (existing) {
    existing.description = description;
    if (blockingIndex !== -1) ex.blocking[blockingIndex] = description;
  }
  const blocks = actions.includes('block');
  if (!existing) ex.flag({ type: WORDLISTS_FLAG_TYPE, description }, { block: blocks });
  else if (blocks && blockingIndex === -1) ex.blocking.push(description);
  return { redact: actions.includes('redact') };
}
