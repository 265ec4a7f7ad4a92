// Anthropic's Messages API spoken by the client (`/anthropic/v1/messages`), bridged to a
// target of another provider: the request written as OpenAI's chat completion, and the
// chat answer, its stream and its errors written back as Anthropic's. (To an Anthropic
// target the request goes as sent: see providers/native.ts and routing.)
import { badRequest } from '../../errors.js';
import { toolArguments } from '../../wire/chat.js';
import { array, count, isObject, type Json, text } from '../../wire/json.js';
import { ChatStreamReader, type NativeApi } from '../provider.js';

/** OpenAI's finish reasons as Anthropic's stop reasons. */
const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

/** Anthropic's error types by status, as its API names them. */
function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A block's text, for system prompts and tool results given as strings or text blocks. */
function blocksText(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  return array(content)
    .map((block) => {
      if (isObject(block) && block.type === 'text') return text(block.text);
      throw badRequest(`${where}: only text blocks are supported here`);
    })
    .join('\n');
}

function imagePart(block: Json, where: string): Json {
  const source = isObject(block.source) ? block.source : {};
  if (source.type === 'base64') {
    return { type: 'image_url', image_url: { url: `data:${text(source.media_type)};base64,${text(source.data)}` } };
  }
  if (source.type === 'url') return { type: 'image_url', image_url: { url: text(source.url) } };
  throw badRequest(`${where}: image source type ${String(source.type)} is not supported`);
}

/** One Anthropic message as OpenAI messages: tool results become tool messages ahead of the turn's text. */
function chatMessages(message: unknown, at: number): Json[] {
  const where = `messages.${at}`;
  if (!isObject(message) || (message.role !== 'user' && message.role !== 'assistant')) {
    throw badRequest(`${where}: a message needs role "user" or "assistant"`);
  }
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  if (!Array.isArray(message.content)) throw badRequest(`${where}.content: a string or an array of blocks`);
  const parts: Json[] = [];
  const toolResults: Json[] = [];
  const toolCalls: Json[] = [];
  message.content.forEach((block: unknown, i: number) => {
    const here = `${where}.content.${i}`;
    if (!isObject(block)) throw badRequest(`${here}: a content block must be an object`);
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: text(block.text) });
        return;
      case 'image':
        parts.push(imagePart(block, here));
        return;
      case 'tool_use':
        toolCalls.push({
          id: text(block.id),
          type: 'function',
          function: { name: text(block.name), arguments: JSON.stringify(block.input ?? {}) },
        });
        return;
      case 'tool_result': {
        const result = blocksText(block.content ?? '', `${here}.content`);
        toolResults.push({
          role: 'tool',
          tool_call_id: text(block.tool_use_id),
          content: block.is_error === true ? `Error: ${result}` : result,
        });
        return;
      }
      // The model's own reasoning, sent back in a conversation: not a prompt, and no other provider reads it.
      case 'thinking':
      case 'redacted_thinking':
        return;
      default:
        throw badRequest(`${here}: content block type ${String(block.type)} is not supported`);
    }
  });
  if (message.role === 'assistant') {
    const content = parts.map((part) => text(part.text)).join('');
    return [
      {
        role: 'assistant',
        content: content === '' && toolCalls.length > 0 ? null : content,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      },
    ];
  }
  return parts.length > 0 ? [...toolResults, { role: 'user', content: parts }] : toolResults;
}

function chatTools(tools: unknown): Json[] {
  return array(tools).map((tool, i) => {
    if (!isObject(tool) || !isObject(tool.input_schema) || typeof tool.name !== 'string') {
      throw badRequest(
        `tools.${i}: only custom tools (name, description, input_schema) are supported, not server tools`,
      );
    }
    return {
      type: 'function',
      function: {
        name: tool.name,
        ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
        parameters: tool.input_schema,
      },
    };
  });
}

function chatToolChoice(choice: unknown): Json {
  if (!isObject(choice)) return {};
  const parallel = choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  switch (choice.type) {
    case 'auto':
      return { tool_choice: 'auto', ...parallel };
    case 'any':
      return { tool_choice: 'required', ...parallel };
    case 'none':
      return { tool_choice: 'none' };
    case 'tool':
      return { tool_choice: { type: 'function', function: { name: text(choice.name) } }, ...parallel };
    default:
      throw badRequest(`tool_choice: type ${String(choice.type)} is not supported`);
  }
}

/** A Messages request as a chat completion request. */
export function chatRequestOf(body: Json, endUserHeader: string | undefined): Json {
  if (typeof body.model !== 'string' || body.model === '') throw badRequest('model: a model name is required');
  if (typeof body.max_tokens !== 'number') throw badRequest('max_tokens: a number is required');
  if (!Array.isArray(body.messages)) throw badRequest('messages: an array of messages is required');
  const system = body.system === undefined ? [] : [{ role: 'system', content: blocksText(body.system, 'system') }];
  const tools = chatTools(body.tools);
  const metadata = isObject(body.metadata) ? body.metadata : {};
  const user = text(metadata.user_id) || endUserHeader;
  return {
    model: body.model,
    messages: [...system, ...body.messages.flatMap(chatMessages)],
    max_tokens: body.max_tokens,
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { top_p: body.top_p } : {}),
    ...(Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0 ? { stop: body.stop_sequences } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...chatToolChoice(body.tool_choice),
    ...(user ? { user } : {}),
    // The usage chunk gives the stream's closing message_delta its token counts.
    ...(body.stream === true ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

/** OpenAI's usage as Anthropic's: input tokens exclude those read from the cache. */
function anthropicUsage(usage: unknown): Json {
  const u = isObject(usage) ? usage : {};
  const details = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cached = count(details.cached_tokens);
  return {
    input_tokens: Math.max(0, count(u.prompt_tokens) - cached),
    output_tokens: count(u.completion_tokens),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

const messageId = (id: unknown) => {
  const value = text(id);
  return value.startsWith('msg_') ? value : `msg_${value || Date.now().toString(36)}`;
};

/** A chat completion as a Messages answer. */
export function messageOf(completion: Json): Json {
  const choice = array(completion.choices).find(isObject) ?? {};
  const message = isObject(choice.message) ? choice.message : {};
  const content: Json[] = [];
  const answer = text(message.content);
  if (answer !== '') content.push({ type: 'text', text: answer });
  for (const call of array(message.tool_calls)) {
    if (!isObject(call) || !isObject(call.function)) continue;
    content.push({
      type: 'tool_use',
      id: text(call.id),
      name: text(call.function.name),
      input: toolArguments(call.function.arguments),
    });
  }
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: text(completion.model),
    content,
    stop_reason: STOP_REASONS[text(choice.finish_reason)] ?? 'end_turn',
    stop_sequence: null,
    usage: anthropicUsage(completion.usage),
  };
}

function anthropicError(status: number, message: string): Json {
  return { type: 'error', error: { type: errorType(status), message } };
}

const event = (data: Json) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;

/** chat.completion.chunk events as Messages stream events: message_start, content blocks, message_delta, message_stop. */
class MessagesStream extends ChatStreamReader {
  private started = false;
  private stopped = false;
  private index = -1;
  /** The open content block: 'text', a tool call's OpenAI index, or null. */
  private open: 'text' | number | null = null;
  private stopReason = 'end_turn';
  private usage: Json = {};

  protected chunk(chunk: Json): void {
    this.start(chunk);
    if (isObject(chunk.usage)) this.usage = chunk.usage;
    for (const choice of array(chunk.choices)) {
      if (!isObject(choice)) continue;
      const delta = isObject(choice.delta) ? choice.delta : {};
      const content = text(delta.content);
      if (content !== '') {
        if (this.open !== 'text') this.startBlock('text', { type: 'text', text: '' });
        this.out += event({
          type: 'content_block_delta',
          index: this.index,
          delta: { type: 'text_delta', text: content },
        });
      }
      for (const call of array(delta.tool_calls)) {
        if (!isObject(call)) continue;
        const fn = isObject(call.function) ? call.function : {};
        const at = typeof call.index === 'number' ? call.index : 0;
        if (this.open !== at) {
          this.startBlock(at, { type: 'tool_use', id: text(call.id), name: text(fn.name), input: {} });
        }
        const json = text(fn.arguments);
        if (json !== '') {
          this.out += event({
            type: 'content_block_delta',
            index: this.index,
            delta: { type: 'input_json_delta', partial_json: json },
          });
        }
      }
      if (typeof choice.finish_reason === 'string') this.stopReason = STOP_REASONS[choice.finish_reason] ?? 'end_turn';
    }
  }

  protected error(error: Json): void {
    this.stopped = true;
    const message = text(isObject(error.error) ? error.error.message : undefined) || 'stream failed';
    this.out += event({ type: 'error', error: { type: 'api_error', message } });
  }

  protected done(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.start({});
    this.closeBlock();
    const usage = anthropicUsage(this.usage);
    this.out += event({ type: 'message_delta', delta: { stop_reason: this.stopReason, stop_sequence: null }, usage });
    this.out += event({ type: 'message_stop' });
  }

  private start(chunk: Json): void {
    if (this.started) return;
    this.started = true;
    const message = {
      id: messageId(chunk.id),
      type: 'message',
      role: 'assistant',
      model: text(chunk.model),
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    this.out += event({ type: 'message_start', message });
  }

  private startBlock(open: 'text' | number, block: Json): void {
    this.closeBlock();
    this.index += 1;
    this.open = open;
    this.out += event({ type: 'content_block_start', index: this.index, content_block: block });
  }

  private closeBlock(): void {
    if (this.open === null) return;
    this.out += event({ type: 'content_block_stop', index: this.index });
    this.open = null;
  }
}

export const anthropicMessages: NativeApi = {
  provider: 'anthropic',
  keyHeader: 'x-api-key',
  chatRequest: chatRequestOf,
  answer: messageOf,
  requestIdHeader: 'request-id',
  error: anthropicError,
  errorEvent: (status, message) => event(anthropicError(status, message)),
  stream: () => new MessagesStream(),
};
