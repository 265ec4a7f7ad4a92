// What policies, limits and budgets read of a request and its answer, whatever API the
// client speaks: one reader per API lists every text a model reads (with setters for
// redaction), the output cap, the end user and the answer's texts. A policy asks here and
// never learns a provider's shape.
import type { Endpoint } from '../wire/endpoints.js';
import { isObject, type Json } from '../wire/json.js';
import { type AnswerText, promptTexts as openAiPromptTexts, type PromptText } from '../wire/prompt.js';
import { messageAnswerTexts, messagesEndUser, messagesOutputCap, messagesPromptTexts } from './anthropic/messages.js';
import { embedPromptTexts, generateAnswerTexts, generateOutputCap, generatePromptTexts } from './gemini/contents.js';

export type { AnswerText, PromptText };

/** Every text of the request a model reads, in order; empty for endpoints without text. */
export function promptTexts(endpoint: Endpoint, body: Json | undefined): PromptText[] {
  if (!body) return [];
  const out: PromptText[] = [];
  switch (endpoint) {
    case 'anthropic.messages':
    case 'anthropic.count_tokens':
      messagesPromptTexts(body, out);
      return out;
    case 'gemini.generate':
    case 'gemini.count_tokens':
    case 'gemini.cached_contents':
      generatePromptTexts(body, out);
      return out;
    case 'gemini.embed':
      embedPromptTexts(body, out);
      return out;
    default:
      return openAiPromptTexts(endpoint, body);
  }
}

/** Endpoints whose answer is a chat turn: the last user text is the prompt an auto-reply matches. */
export const CHAT_ENDPOINTS: readonly Endpoint[] = ['chat.completions', 'anthropic.messages', 'gemini.generate'];

/** Endpoints that generate text under an output cap. */
export const OUTPUT_ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'responses',
  'anthropic.messages',
  'gemini.generate',
];

/**
 * Every output cap the request sets, under each name its API takes (a chat request may
 * set both `max_completion_tokens` and `max_tokens`); empty when it sets none.
 */
export function outputCaps(endpoint: Endpoint, body: Json | undefined): unknown[] {
  if (!body) return [];
  let caps: unknown[];
  switch (endpoint) {
    case 'anthropic.messages':
      caps = [messagesOutputCap(body)];
      break;
    case 'gemini.generate':
      caps = [generateOutputCap(body)];
      break;
    case 'responses':
      caps = [body.max_output_tokens];
      break;
    default:
      caps = [body.max_completion_tokens, body.max_tokens];
  }
  return caps.filter((cap) => cap !== undefined && cap !== null);
}

/** The end user a request names in its body, for the APIs that have a field for it. */
export function endUserOf(endpoint: Endpoint, body: Json | undefined): string | undefined {
  if (!body) return undefined;
  if (endpoint === 'anthropic.messages' || endpoint === 'anthropic.count_tokens') return messagesEndUser(body);
  const user = body.user;
  const safety = body.safety_identifier;
  return (typeof user === 'string' && user) || (typeof safety === 'string' && safety) || undefined;
}

/** Calls `visit` for every text of a JSON answer, in order. */
export function forEachAnswerText(endpoint: Endpoint, answer: Json, visit: (text: AnswerText) => void): void {
  switch (endpoint) {
    case 'anthropic.messages':
      messageAnswerTexts(answer, visit);
      return;
    case 'gemini.generate':
      generateAnswerTexts(answer, visit);
      return;
    case 'chat.completions':
    case 'completions':
      for (const choice of Array.isArray(answer.choices) ? answer.choices : []) {
        if (!isObject(choice)) continue;
        if (typeof choice.text === 'string') visit({ text: choice.text, set: (next) => (choice.text = next) });
        const message = choice.message;
        if (isObject(message) && typeof message.content === 'string') {
          visit({ text: message.content, set: (next) => (message.content = next) });
        }
      }
      return;
    case 'responses':
      for (const item of Array.isArray(answer.output) ? answer.output : []) {
        if (!isObject(item) || !Array.isArray(item.content)) continue;
        for (const part of item.content) {
          if (isObject(part) && part.type === 'output_text' && typeof part.text === 'string') {
            visit({ text: part.text, set: (next) => (part.text = next) });
          }
        }
      }
      return;
    default:
      return;
  }
}

/** What answer text is run through: the response phase's filters. */
export interface TextFilter {
  write(text: string): string;
  end(): string;
  /** A whole text at once, on a fresh filter: what write(text) + end() give, done faster. */
  whole?(text: string): string;
}

/** Runs each answer text through a fresh chain of filters; true when any text changed. */
export function filterAnswerTexts(endpoint: Endpoint, answer: Json, makeFilters: () => TextFilter[]): boolean {
  let changed = false;
  forEachAnswerText(endpoint, answer, ({ text, set }) => {
    let next = text;
    for (const filter of makeFilters()) next = filter.whole ? filter.whole(next) : filter.write(next) + filter.end();
    if (next !== text) {
      set(next);
      changed = true;
    }
  });
  return changed;
}

/** The id an answer carries in its body (`msg_…`, Gemini's `responseId`), for providers that send no id header. */
export function answerIdOf(answer: Json): string | null {
  const id = answer.id ?? answer.responseId;
  return typeof id === 'string' ? id : null;
}
