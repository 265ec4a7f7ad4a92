// The text of a JSON answer — chat messages, completion texts, Responses output text —
// run through the answer filters of the response phase.
import type { Endpoint } from './endpoints.js';
import { isObject, type Json } from './json.js';

/** What answer text is run through: the response phase's filters, as the wire format sees them. */
export interface TextFilter {
  write(text: string): string;
  end(): string;
  /** A whole text at once, on a fresh filter: what write(text) + end() give, done faster. */
  whole?(text: string): string;
}

/** Calls `visit` for every answer text field with a setter; order follows the answer. */
function forEachAnswerText(
  endpoint: Endpoint,
  answer: Json,
  visit: (text: string, set: (next: string) => void) => void,
) {
  if (endpoint === 'chat.completions' || endpoint === 'completions') {
    const choices = Array.isArray(answer.choices) ? answer.choices : [];
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      if (typeof choice.text === 'string') visit(choice.text, (next) => (choice.text = next));
      const message = choice.message;
      if (isObject(message) && typeof message.content === 'string') {
        visit(message.content, (next) => (message.content = next));
      }
    }
  } else if (endpoint === 'responses') {
    const output = Array.isArray(answer.output) ? answer.output : [];
    for (const item of output) {
      if (!isObject(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content) {
        if (isObject(part) && part.type === 'output_text' && typeof part.text === 'string') {
          visit(part.text, (next) => (part.text = next));
        }
      }
    }
  }
}

/** Runs each answer text through a fresh chain of filters; true when any text changed. */
export function filterAnswerTexts(endpoint: Endpoint, answer: Json, makeFilters: () => TextFilter[]): boolean {
  let changed = false;
  forEachAnswerText(endpoint, answer, (text, set) => {
    let next = text;
    for (const filter of makeFilters()) next = filter.whole ? filter.whole(next) : filter.write(next) + filter.end();
    if (next !== text) {
      set(next);
      changed = true;
    }
  });
  return changed;
}
