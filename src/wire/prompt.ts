// The user-provided text of a JSON request — prompts, chat messages, Responses input,
// edit input, embedding input, speech input, conversation items — with setters so request-phase policies can rewrite it.
import type { Endpoint } from './endpoints.js';
import { isObject, type Json } from './json.js';

export interface PromptText {
  text: string;
  /** The message role for chat and Responses items; `user` for plain prompts. */
  role: string;
  /** Replaces this text in the request body. */
  set(next: string): void;
}

/** Strings of a `prompt` / `input` field: a string or an array whose strings count. */
function visitStringOrList(holder: Json, key: string, role: string, out: PromptText[]): void {
  const value = holder[key];
  if (typeof value === 'string') {
    out.push({ text: value, role, set: (next) => (holder[key] = next) });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      if (typeof item === 'string') out.push({ text: item, role, set: (next) => (value[index] = next) });
    });
  }
}

/** A message's content: a string, or parts of which the text ones count. */
function visitContent(message: Json, role: string, out: PromptText[]): void {
  const content = message.content;
  if (typeof content === 'string') {
    out.push({ text: content, role, set: (next) => (message.content = next) });
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (!isObject(part) || typeof part.text !== 'string') continue;
    // Earlier answers sent back as history (`output_text`) are read by the model as much as the rest.
    if (part.type === 'text' || part.type === 'input_text' || part.type === 'output_text') {
      out.push({ text: part.text, role, set: (next) => (part.text = next) });
    }
  }
}

/** Chat messages, or Responses input items: messages, and tool outputs the model reads as text. */
function visitMessages(list: unknown, out: PromptText[]): void {
  if (!Array.isArray(list)) return;
  for (const message of list) {
    if (!isObject(message)) continue;
    if (message.type === 'function_call_output' || message.type === 'custom_tool_call_output') {
      if (typeof message.output === 'string') visitStringOrList(message, 'output', 'tool', out);
      else visitContent({ content: message.output }, 'tool', out);
      continue;
    }
    visitContent(message, typeof message.role === 'string' ? message.role : 'user', out);
  }
}

/** Every prompt text of the request body, in order; empty for endpoints without text. */
export function promptTexts(endpoint: Endpoint, body: Json | undefined): PromptText[] {
  const out: PromptText[] = [];
  if (!body) return out;
  switch (endpoint) {
    case 'chat.completions':
      visitMessages(body.messages, out);
      break;
    case 'completions':
    case 'images.generations':
    case 'images.edits':
      visitStringOrList(body, 'prompt', 'user', out);
      break;
    case 'edits':
      visitStringOrList(body, 'instruction', 'system', out);
      visitStringOrList(body, 'input', 'user', out);
      break;
    case 'embeddings':
    case 'moderations':
    case 'audio.speech':
      visitStringOrList(body, 'input', 'user', out);
      break;
    case 'responses':
    case 'responses.compact':
    case 'responses.input_tokens':
      visitStringOrList(body, 'instructions', 'system', out);
      if (typeof body.input === 'string') visitStringOrList(body, 'input', 'user', out);
      else visitMessages(body.input, out);
      break;
    case 'conversations':
    case 'conversations.items':
      visitMessages(body.items, out);
      break;
    default:
      break;
  }
  return out;
}

/** Endpoints whose multipart body carries a text `prompt` field. */
const MULTIPART_PROMPT_ENDPOINTS: ReadonlySet<Endpoint> = new Set([
  'images.edits',
  'audio.transcriptions',
  'audio.translations',
]);

/**
 * The prompt field of a multipart request (image edits, transcriptions), rewritable too:
 * `set` writes the new value into `fields` and tells `rewritten` which field changed.
 */
export function multipartPromptTexts(
  endpoint: Endpoint,
  fields: Record<string, string> | undefined,
  rewritten: (field: string) => void,
): PromptText[] {
  const text = fields?.prompt;
  if (!fields || text === undefined || !MULTIPART_PROMPT_ENDPOINTS.has(endpoint)) return [];
  return [
    {
      text,
      role: 'user',
      set(next) {
        fields.prompt = next;
        rewritten('prompt');
      },
    },
  ];
}

/** One text of an answer, with the way to replace it (response-phase policies rewrite it). */
export interface AnswerText {
  text: string;
  set(next: string): void;
}
