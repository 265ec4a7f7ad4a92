// Anthropic's Messages API behind OpenAI's chat completions: the system text taken out of
// the messages, content parts and images, tools and tool results, stop reasons, usage with
// cache tokens, the event stream as `chat.completion.chunk`s, and errors in OpenAI's shape.
import { asksForStreamUsage, chatUsage, contentText, toolArguments } from '../../wire/chat.js';
import { array, count, isObject, type Json, parseObject, text } from '../../wire/json.js';
import { ChatChunks, openAiError, type ProviderAdapter, type ProviderCall, ProviderEventStream } from '../provider.js';
import { anthropicUsage } from './usage.js';

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; OpenAI's clients often leave it out. */
export const DEFAULT_MAX_TOKENS = 4096;

/** Anthropic's stop reasons as OpenAI's finish reasons. */
const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** OpenAI's tool_choice as Anthropic's. */
const TOOL_CHOICES: Record<string, Json> = {
  auto: { type: 'auto' },
  required: { type: 'any' },
  none: { type: 'none' },
};

/** An image_url part as an Anthropic image block: inline base64 from a data URL, else by URL. */
function imageBlock(part: Json): Json {
  const url = text(isObject(part.image_url) ? part.image_url.url : part.image_url);
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function contentBlocks(content: unknown): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return array(content).flatMap((part): Json[] => {
    if (!isObject(part)) return [];
    if (part.type === 'text') return [{ type: 'text', text: text(part.text) }];
    if (part.type === 'image_url') return [imageBlock(part)];
    return [];
  });
}

/** OpenAI's messages as Anthropic's system text and alternating messages. */
export function toAnthropicMessages(messages: unknown): { system: string | undefined; messages: Json[] } {
  const system: string[] = [];
  const out: Json[] = [];
  const push = (role: string, blocks: Json[]) => {
    const last = out.at(-1);
    // Consecutive turns of one role (tool results after each other) become one message.
    if (last && last.role === role) (last.content as Json[]).push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of array(messages)) {
    if (!isObject(message)) continue;
    const role = message.role;
    if (role === 'system' || role === 'developer') {
      system.push(contentText(message.content));
    } else if (role === 'tool') {
      push('user', [
        { type: 'tool_result', tool_use_id: text(message.tool_call_id), content: contentText(message.content) },
      ]);
    } else if (role === 'assistant') {
      const blocks = contentBlocks(message.content);
      for (const call of array(message.tool_calls)) {
        if (!isObject(call) || !isObject(call.function)) continue;
        blocks.push({
          type: 'tool_use',
          id: text(call.id),
          name: text(call.function.name),
          input: toolArguments(call.function.arguments),
        });
      }
      push('assistant', blocks);
    } else {
      push('user', contentBlocks(message.content));
    }
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: out };
}

function toolChoice(choice: unknown, parallel: unknown): Json | undefined {
  let mapped: Json | undefined;
  if (typeof choice === 'string') mapped = TOOL_CHOICES[choice];
  else if (isObject(choice) && isObject(choice.function)) mapped = { type: 'tool', name: text(choice.function.name) };
  if (parallel === false && mapped && mapped.type !== 'none') mapped = { ...mapped, disable_parallel_tool_use: true };
  return mapped;
}

/** OpenAI's chat request as a Messages request. */
export function toAnthropicRequest(call: Pick<ProviderCall, 'json' | 'model' | 'stream'>): Json {
  const body = call.json ?? {};
  const { system, messages } = toAnthropicMessages(body.messages);
  const stop = body.stop;
  const tools = array(body.tools).flatMap((tool): Json[] =>
    isObject(tool) && isObject(tool.function)
      ? [
          {
            name: text(tool.function.name),
            ...(typeof tool.function.description === 'string' ? { description: tool.function.description } : {}),
            input_schema: isObject(tool.function.parameters) ? tool.function.parameters : { type: 'object' },
          },
        ]
      : [],
  );
  const choice = toolChoice(body.tool_choice, body.parallel_tool_calls);
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  return {
    model: call.model,
    max_tokens: typeof maxTokens === 'number' ? maxTokens : DEFAULT_MAX_TOKENS,
    ...(system === undefined ? {} : { system }),
    messages,
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { top_p: body.top_p } : {}),
    ...(stop === undefined || stop === null ? {} : { stop_sequences: Array.isArray(stop) ? stop : [stop] }),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice ? { tool_choice: choice } : {}),
    ...(typeof body.user === 'string' && body.user !== '' ? { metadata: { user_id: body.user } } : {}),
    ...(call.stream ? { stream: true } : {}),
  };
}

/**
 * Anthropic's usage as OpenAI's: prompt tokens include the cache reads and writes, and the
 * writes (5-minute and 1-hour), web searches and service tier are kept (see chatUsage).
 */
export function openAiUsage(usage: unknown): Json {
  const u = anthropicUsage(isObject(usage) ? usage : {});
  return chatUsage({
    prompt: u?.promptTokens ?? 0,
    completion: u?.completionTokens ?? 0,
    cached: u?.cachedTokens ?? 0,
    cacheWrite: u?.cacheWriteTokens ?? 0,
    cacheWrite1h: u?.cacheWrite1hTokens ?? 0,
    webSearches: u?.webSearchRequests ?? 0,
    ...(u?.serviceTier ? { serviceTier: u.serviceTier } : {}),
  });
}

/** A Messages answer as a chat completion. */
export function toChatCompletion(answer: Json, model: string | null): Json {
  let content = '';
  const toolCalls: Json[] = [];
  for (const block of array(answer.content)) {
    if (!isObject(block)) continue;
    if (block.type === 'text') content += text(block.text);
    if (block.type === 'tool_use') {
      toolCalls.push({
        id: text(block.id),
        type: 'function',
        function: { name: text(block.name), arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const message: Json = {
    role: 'assistant',
    content: content === '' && toolCalls.length > 0 ? null : content,
    refusal: null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: text(answer.id),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: text(answer.model) || model,
    choices: [{ index: 0, message, finish_reason: FINISH_REASONS[text(answer.stop_reason)] ?? 'stop', logprobs: null }],
    usage: openAiUsage(answer.usage),
  };
}

/** An Anthropic error answer (`{type:"error", error:{type, message}}`) in OpenAI's shape. */
export function toOpenAiError(status: number, body: string): Json {
  const json = parseObject(body);
  const error = isObject(json?.error) ? json.error : undefined;
  const message = text(error?.message) || body.slice(0, 500) || `anthropic answered ${status}`;
  return openAiError(status, message, text(error?.type) || undefined);
}

/** Anthropic's stream events as chat.completion.chunk events, usage last when asked for. */
class AnthropicStream extends ProviderEventStream {
  private usage: Json = {};
  /** Anthropic's content block index → OpenAI's tool call index. */
  private readonly toolIndex = new Map<number, number>();
  private finished = false;

  constructor(model: string | null, includeUsage: boolean) {
    super(new ChatChunks('', model ?? '', includeUsage));
  }

  protected onEvent(data: string): void {
    const event = parseObject(data);
    if (!event || this.finished) return;
    switch (event.type) {
      case 'message_start': {
        const message = isObject(event.message) ? event.message : {};
        this.chunks.id = text(message.id);
        this.chunks.model = text(message.model) || this.chunks.model;
        this.usage = isObject(message.usage) ? { ...message.usage } : {};
        this.chunks.delta({ role: 'assistant', content: '' });
        return;
      }
      case 'content_block_start': {
        const block = isObject(event.content_block) ? event.content_block : {};
        if (block.type !== 'tool_use') return;
        const index = this.toolIndex.size;
        this.toolIndex.set(Number(event.index), index);
        this.chunks.delta({
          tool_calls: [
            { index, id: text(block.id), type: 'function', function: { name: text(block.name), arguments: '' } },
          ],
        });
        return;
      }
      case 'content_block_delta': {
        const delta = isObject(event.delta) ? event.delta : {};
        if (delta.type === 'text_delta') this.chunks.delta({ content: text(delta.text) });
        else if (delta.type === 'input_json_delta') {
          const index = this.toolIndex.get(Number(event.index)) ?? 0;
          this.chunks.delta({ tool_calls: [{ index, function: { arguments: text(delta.partial_json) } }] });
        }
        return;
      }
      case 'message_delta': {
        if (isObject(event.usage)) Object.assign(this.usage, event.usage);
        const delta = isObject(event.delta) ? event.delta : {};
        this.chunks.delta({}, FINISH_REASONS[text(delta.stop_reason)] ?? 'stop');
        return;
      }
      case 'message_stop':
        this.finished = true;
        this.chunks.finish(openAiUsage(this.usage));
        return;
      case 'error': {
        this.finished = true;
        const error = isObject(event.error) ? event.error : {};
        this.chunks.event(
          openAiError(500, text(error.message) || 'anthropic stream error', text(error.type) || undefined),
        );
        return;
      }
    }
  }
}

export const anthropic: ProviderAdapter = {
  name: 'anthropic',
  defaultBaseUrl: () => 'https://api.anthropic.com',
  serves: (endpoint) => endpoint === 'chat.completions',
  needsApiKey: true,
  request(call) {
    return {
      base: call.baseUrl,
      method: 'POST',
      path: '/v1/messages',
      headers: {
        'content-type': 'application/json',
        'x-api-key': call.apiKey ?? '',
        'anthropic-version': ANTHROPIC_VERSION,
        ...(call.headers['user-agent'] ? { 'user-agent': call.headers['user-agent'] } : {}),
      },
      body: JSON.stringify(toAnthropicRequest(call)),
    };
  },
  translate: {
    answer: (call, json) => toChatCompletion(json, call.model),
    error: toOpenAiError,
    stream: (call) => new AnthropicStream(call.model, asksForStreamUsage(call.json)),
    requestIdHeader: 'request-id',
  },
};
