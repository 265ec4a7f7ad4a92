// Counts tokens with gpt-tokenizer when upstream reports no usage (some compatible servers
// never do). The encoder's tables take about 70 MB and 0.2 s to load, so they are loaded on
// the first answer that needs counting: a gateway whose upstream always reports usage
// (OpenAI does) never carries them.
import { createParser } from 'eventsource-parser';
import { promptTexts } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';
import { parseObject } from '../wire/json.js';
import { lastEventEnd } from '../wire/sse.js';
import type { Usage } from '../wire/usage.js';

type Counter = (text: string) => number;
let loading: Promise<Counter> | null = null;

/** The o200k_base encoder (GPT-4o and later; an estimate for older models too), loaded once. */
function tokenizer(): Promise<Counter> {
  loading ??= import('gpt-tokenizer').then((encoder) => (text: string) => encoder.countTokens(text));
  return loading;
}

/** OpenAI's documented framing overhead for chat: per message, and once to prime the answer. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

const objectOf = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** The text of a message content, a prompt or an input: strings, or the text parts of a list. */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(textOf).filter(Boolean).join('\n');
  const object = objectOf(value);
  if (!object) return '';
  if (typeof object.text === 'string') return object.text;
  return textOf(object.content);
}

/** Tokens of the request's prompt as upstream would count them, or null for other endpoints. */
function promptTokens(endpoint: Endpoint, body: Record<string, unknown>, count: Counter): number | null {
  switch (endpoint) {
    case 'chat.completions': {
      const messages = Array.isArray(body.messages) ? body.messages : [];
      let tokens = TOKENS_PER_REPLY;
      for (const message of messages) tokens += TOKENS_PER_MESSAGE + count(textOf(objectOf(message)?.content));
      return tokens;
    }
    case 'completions':
      return count(textOf(body.prompt));
    case 'embeddings':
      return count(textOf(body.input));
    case 'responses':
      return count(textOf(body.input)) + (typeof body.instructions === 'string' ? count(body.instructions) : 0);
    case 'anthropic.messages':
    case 'gemini.generate':
    case 'gemini.embed': {
      // The providers' own APIs: what their readers list (a count for limits and budgets, not the provider's).
      let tokens = 0;
      for (const prompt of promptTexts(endpoint, body)) tokens += count(prompt.text);
      return tokens;
    }
    default:
      return null;
  }
}

/** The request's prompt tokens as upstream would count them, or null for endpoints without a prompt. */
export async function countPromptTokens(endpoint: Endpoint, body: Record<string, unknown>): Promise<number | null> {
  const encoder = await tokenizer();
  return promptTokens(endpoint, body, (text) => countSampled(encoder, text));
}

/** The answer text of a JSON answer: message contents, completion texts or Responses output texts. */
export function answerText(answer: Record<string, unknown>): string {
  const parts: string[] = [];
  if (Array.isArray(answer.choices)) {
    for (const choice of answer.choices) {
      const c = objectOf(choice);
      if (typeof c?.text === 'string') parts.push(c.text);
      const message = objectOf(c?.message);
      if (message) parts.push(textOf(message.content), toolCallText(message.tool_calls));
    }
  }
  if (Array.isArray(answer.output)) for (const item of answer.output) parts.push(textOf(objectOf(item)?.content));
  return parts.filter(Boolean).join('');
}

/** The text of a stream event's delta: chat deltas, completion texts, Responses text deltas. */
export function deltaText(event: Record<string, unknown>): string {
  if (event.type === 'response.output_text.delta' && typeof event.delta === 'string') return event.delta;
  if (!Array.isArray(event.choices)) return '';
  let text = '';
  for (const choice of event.choices) {
    const c = objectOf(choice);
    if (typeof c?.text === 'string') text += c.text;
    const delta = objectOf(c?.delta);
    if (typeof delta?.content === 'string') text += delta.content;
    if (delta) text += toolCallText(delta.tool_calls);
  }
  return text;
}

function toolCallText(calls: unknown): string {
  if (!Array.isArray(calls)) return '';
  let text = '';
  for (const call of calls) {
    const fn = objectOf(objectOf(call)?.function);
    if (typeof fn?.name === 'string') text += fn.name;
    if (typeof fn?.arguments === 'string') text += fn.arguments;
  }
  return text;
}

/** Longer texts are counted on a sample of this many characters and scaled. */
const EXACT_COUNT_CHARS = 32 * 1024;

/**
 * Counting is synchronous and its cost grows with the text, so a long text is counted on
 * its first EXACT_COUNT_CHARS and scaled: an estimate either way, without holding the event
 * loop for seconds.
 */
function countSampled(count: Counter, text: string): number {
  if (!text) return 0;
  if (text.length <= EXACT_COUNT_CHARS) return count(text);
  const sample = count(text.slice(0, EXACT_COUNT_CHARS));
  return Math.round((sample * text.length) / EXACT_COUNT_CHARS);
}

/** Raw stream text kept for counting: some 300 events of a chat stream, each about a token. */
const SAMPLE_STREAM_CHARS = 64 * 1024;

/**
 * The beginning of a streamed answer as it arrived (about SAMPLE_STREAM_CHARS of its
 * server-sent events) and the size of all of it. Nothing is parsed as the stream goes by:
 * upstream usually reports usage at the end, and only when it does not is the sample read
 * (its events' text counted, and scaled by size). Nothing grows with the stream's length.
 */
export class StreamTextSample {
  private pieces: string[] = [];
  private sampledChars = 0;
  private totalChars = 0;

  /** A piece of the stream's text, as decoded. */
  add(text: string): void {
    this.totalChars += text.length;
    if (this.sampledChars >= SAMPLE_STREAM_CHARS) return;
    this.pieces.push(text);
    this.sampledChars += text.length;
  }

  /** The answer's tokens, counted on the sample's whole events and scaled to the whole stream. */
  count(count: Counter): number {
    const sample = this.pieces.join('');
    // A sample that stops inside an event counts up to the end of its last whole event.
    const sampled = this.totalChars === sample.length ? sample.length : lastEventEnd(sample);
    let text = '';
    const parser = createParser({
      onEvent: (event) => {
        const json = parseObject(event.data);
        if (json) text += deltaText(json);
      },
    });
    parser.feed(sample.slice(0, sampled));
    parser.reset({ consume: true });
    if (!text) return 0;
    const tokens = countSampled(count, text);
    return sampled === this.totalChars ? tokens : Math.round((tokens * this.totalChars) / sampled);
  }
}

/**
 * Counted usage for a request and the answer it got (its text, or a sample of a streamed
 * one); null for endpoints without a prompt to count.
 */
export async function estimateUsage(
  endpoint: Endpoint,
  body: Record<string, unknown> | undefined,
  completion: string | StreamTextSample,
): Promise<Usage | null> {
  if (!body) return null;
  const encoder = await tokenizer();
  const count = (text: string) => countSampled(encoder, text);
  const prompt = promptTokens(endpoint, body, count);
  if (prompt === null) return null;
  const completionTokens =
    endpoint === 'embeddings' || endpoint === 'gemini.embed'
      ? null
      : typeof completion === 'string'
        ? count(completion)
        : completion.count(encoder);
  return {
    promptTokens: prompt,
    completionTokens,
    totalTokens: prompt + (completionTokens ?? 0),
    cachedTokens: null,
    reasoningTokens: null,
    audioSeconds: null,
    estimated: true,
  };
}
