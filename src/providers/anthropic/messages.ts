// Anthropic's Messages API as the gateway reads it, in its own shape: every text a model
// reads in a request (system, messages of every role, tool results, text documents, search
// results, tool descriptions), the output cap, and the answer's texts — each with a setter,
// so a redaction changes those characters and nothing else of the request.
import { array, isObject, type Json } from '../../wire/json.js';
import type { AnswerText, PromptText } from '../../wire/prompt.js';

/** A text field of `holder` as a prompt text. */
function field(holder: Json, key: string, role: string, out: PromptText[]): void {
  const value = holder[key];
  if (typeof value === 'string') out.push({ text: value, role, set: (next) => (holder[key] = next) });
}

/** A string content, or blocks of which every kind a model reads as text counts. */
function content(holder: Json, key: string, role: string, out: PromptText[]): void {
  if (typeof holder[key] === 'string') {
    field(holder, key, role, out);
    return;
  }
  for (const block of array(holder[key])) {
    if (!isObject(block)) continue;
    switch (block.type) {
      case 'text':
        field(block, 'text', role, out);
        break;
      case 'tool_result':
      case 'web_search_tool_result':
        content(block, 'content', 'tool', out);
        break;
      case 'search_result':
        field(block, 'title', role, out);
        content(block, 'content', role, out);
        break;
      case 'document': {
        field(block, 'title', role, out);
        field(block, 'context', role, out);
        const source = isObject(block.source) ? block.source : {};
        if (source.type === 'text') field(source, 'data', role, out);
        else if (source.type === 'content') content(source, 'content', role, out);
        break;
      }
      // Images, PDFs, the model's own thinking sent back, tool calls: no text for a policy here.
      default:
        break;
    }
  }
}

/** Every text of a Messages (or count_tokens) request, in the order the model reads it. */
export function messagesPromptTexts(body: Json, out: PromptText[]): void {
  for (const tool of array(body.tools)) if (isObject(tool)) field(tool, 'description', 'tools', out);
  content(body, 'system', 'system', out);
  for (const message of array(body.messages)) {
    if (!isObject(message)) continue;
    content(message, 'content', typeof message.role === 'string' ? message.role : 'user', out);
  }
}

/** The answer's text blocks. */
export function messageAnswerTexts(answer: Json, visit: (text: AnswerText) => void): void {
  for (const block of array(answer.content)) {
    if (isObject(block) && block.type === 'text' && typeof block.text === 'string') {
      visit({ text: block.text, set: (next) => (block.text = next) });
    }
  }
}

/** The most output tokens the request allows: `max_tokens` (a thinking budget is a part of it). */
export function messagesOutputCap(body: Json): unknown {
  return body.max_tokens;
}

/** The end user: `metadata.user_id`. */
export function messagesEndUser(body: Json): string | undefined {
  const metadata = isObject(body.metadata) ? body.metadata : {};
  return typeof metadata.user_id === 'string' ? metadata.user_id : undefined;
}
