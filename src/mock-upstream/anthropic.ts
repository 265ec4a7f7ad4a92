// The simulator's Anthropic Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`,
// `GET /v1/models`): echoes the last user text, calls a tool when tool_choice demands one, thinks
// (a thinking block with a signature) when `thinking` asks for it, reads and writes a prompt cache
// at `cache_control` breakpoints, reports usage as word counts, and streams Anthropic's events.
//
// It takes what the real API and its clients send: the key as `x-api-key` or as a bearer token (the
// SDK's `apiKey` since 1.x), `?beta=true`, system messages in the middle of `messages`, server tools,
// `context_management`, `output_config`, `metadata` — fields it has no use for are accepted and ignored.
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

/** What the server sends: a JSON answer with its status, or a list of SSE events. */
export type MockAnswer = { status: number; json: unknown } | { status: 200; events: string[] };

/**
 * The prompt prefixes this mock instance has cached, by hash: a breakpoint whose prefix is here is a
 * cache read, any other a cache write (then it is here). Real caches expire; this one lasts the instance.
 */
export type PromptCache = Set<string>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const ROLES = new Set(['user', 'assistant', 'system']);

/** Anthropic's models, as `GET /v1/models` lists them to a client that sends `anthropic-version`. */
const ANTHROPIC_MODELS = [
  { id: 'claude-opus-5-5', display_name: 'Claude Opus 5.5' },
  { id: 'claude-opus-4-5', display_name: 'Claude Opus 4.5' },
  { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' },
  { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5' },
  { id: 'claude-3-5-haiku-20241022', display_name: 'Claude Haiku 3.5' },
].map((m) => ({ type: 'model', ...m, created_at: '2025-10-01T00:00:00Z' }));

export function anthropicError(status: number, type: string, message: string): MockAnswer {
  return { status, json: { type: 'error', error: { type, message } } };
}

function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      if (!isObject(block)) return '';
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      if (block.type === 'tool_result') return `tool result: ${blocksText(block.content)}`;
      return '';
    })
    .filter((t) => t !== '')
    .join(' ');
}

/** The tool the answer calls: the one tool_choice names, the first for `any`, none otherwise. */
function calledTool(params: Json): string | null {
  const tools = Array.isArray(params.tools) ? params.tools.filter(isObject) : [];
  const choice = isObject(params.tool_choice) ? params.tool_choice : null;
  if (tools.length === 0 || !choice) return null;
  if (choice.type === 'tool' && typeof choice.name === 'string') return choice.name;
  if (choice.type === 'any') return typeof tools[0]?.name === 'string' ? tools[0].name : null;
  return null;
}

/** Checks what every Messages call needs: the key, the version header, and (unless `counting`) max_tokens. */
function refused(params: Json, headers: Record<string, string | string[] | undefined>, counting: boolean) {
  const bearer = typeof headers.authorization === 'string' && headers.authorization.startsWith('Bearer ');
  if (!headers['x-api-key'] && !bearer)
    return anthropicError(401, 'authentication_error', 'x-api-key header is required');
  if (!headers['anthropic-version']) {
    return anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required');
  }
  if (typeof params.model !== 'string' || params.model === '') {
    return anthropicError(400, 'invalid_request_error', 'model: Field required');
  }
  if (!counting && typeof params.max_tokens !== 'number') {
    return anthropicError(400, 'invalid_request_error', 'max_tokens: Field required');
  }
  if (!Array.isArray(params.messages) || params.messages.length === 0) {
    return anthropicError(400, 'invalid_request_error', 'messages: Field required');
  }
  const badRole = params.messages.findIndex((m) => !isObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role));
  if (badRole !== -1) {
    return anthropicError(
      400,
      'invalid_request_error',
      `messages.${badRole}.role: Input should be 'user', 'assistant' or 'system'`,
    );
  }
  const thinking = isObject(params.thinking) ? params.thinking : null;
  if (!counting && thinking?.type === 'enabled') {
    const budget = thinking.budget_tokens;
    if (typeof budget !== 'number' || budget < 1024) {
      return anthropicError(
        400,
        'invalid_request_error',
        'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024',
      );
    }
    if (typeof params.max_tokens === 'number' && budget >= params.max_tokens) {
      return anthropicError(400, 'invalid_request_error', '`max_tokens` must be greater than `thinking.budget_tokens`');
    }
  }
  return null;
}

interface PromptTokens {
  /** Every prompt token: system and message texts (tool definitions count none in the mock). */
  total: number;
  /** Tokens up to the last cache breakpoint (0 without one). */
  cached: number;
  read: number;
  write5m: number;
  write1h: number;
  lastUser: string;
}

/**
 * Counts the prompt in Anthropic's cache order (tools, system, messages) and settles the cache: the
 * longest breakpoint prefix already cached is read, the rest up to the last breakpoint is written,
 * each stretch with the ttl of the breakpoint that closes it.
 */
function promptTokens(params: Json, words: (text: string) => number, cache: PromptCache | null): PromptTokens {
  const hash = createHash('sha256').update(String(params.model));
  const breakpoints: { tokens: number; key: string; ttl: string }[] = [];
  let total = 0;
  let lastUser = '';
  const block = (value: unknown, tokens: number) => {
    hash.update(JSON.stringify(value));
    total += tokens;
    if (isObject(value) && isObject(value.cache_control)) {
      const ttl = value.cache_control.ttl === '1h' ? '1h' : '5m';
      breakpoints.push({ tokens: total, key: hash.copy().digest('hex'), ttl });
    }
  };
  for (const tool of Array.isArray(params.tools) ? params.tools : []) block(tool, 0);
  if (Array.isArray(params.system)) for (const b of params.system) block(b, words(blocksText([b])));
  else if (typeof params.system === 'string') block(params.system, words(params.system));
  for (const message of Array.isArray(params.messages) ? params.messages : []) {
    if (!isObject(message)) continue;
    hash.update(`\n${String(message.role)}\n`);
    if (Array.isArray(message.content)) for (const b of message.content) block(b, words(blocksText([b])));
    else block(message.content, words(blocksText(message.content)));
    if (message.role === 'user') lastUser = blocksText(message.content);
  }
  const tokens: PromptTokens = { total, cached: 0, read: 0, write5m: 0, write1h: 0, lastUser };
  if (!cache || breakpoints.length === 0) return tokens;
  tokens.cached = breakpoints.at(-1)?.tokens ?? 0;
  let from = 0;
  for (const point of breakpoints) if (cache.has(point.key)) tokens.read = from = point.tokens;
  for (const point of breakpoints) {
    if (point.tokens <= from) continue;
    if (point.ttl === '1h') tokens.write1h += point.tokens - from;
    else tokens.write5m += point.tokens - from;
    from = point.tokens;
    cache.add(point.key);
  }
  return tokens;
}

/** `POST /v1/messages/count_tokens`: the prompt's tokens, as `messages` would count them, without a cache. */
export function anthropicCountTokens(
  params: Json,
  headers: Record<string, string | string[] | undefined>,
  words: (text: string) => number,
): MockAnswer {
  const refusal = refused(params, headers, true);
  if (refusal) return refusal;
  return { status: 200, json: { input_tokens: promptTokens(params, words, null).total } };
}

/** `GET /v1/models` in Anthropic's shape. */
export function anthropicModels(): MockAnswer {
  return {
    status: 200,
    json: {
      data: ANTHROPIC_MODELS,
      has_more: false,
      first_id: ANTHROPIC_MODELS[0]?.id ?? null,
      last_id: ANTHROPIC_MODELS.at(-1)?.id ?? null,
    },
  };
}

export function anthropicMessages(
  params: Json,
  headers: Record<string, string | string[] | undefined>,
  seq: number,
  words: (text: string) => number,
  pieces: (text: string) => string[],
  cache: PromptCache = new Set(),
): MockAnswer {
  const refusal = refused(params, headers, false);
  if (refusal) return refusal;
  const prompt = promptTokens(params, words, cache);
  const id = `msg_mock${seq}`;
  const model = params.model;
  const tool = calledTool(params);
  const answer = `Echo: ${prompt.lastUser}`;
  const toolInput = { echo: prompt.lastUser };
  // Adaptive thinking thinks on every turn here; `display: "omitted"` keeps the text out but bills it.
  const thinkingConfig = isObject(params.thinking) ? params.thinking : null;
  const thinks = thinkingConfig?.type === 'enabled' || thinkingConfig?.type === 'adaptive';
  const thought = `Thinking about: ${prompt.lastUser}`;
  const shownThought = thinkingConfig?.display === 'omitted' ? '' : thought;
  const thinkingTokens = thinks ? words(thought) : 0;
  const signature = Buffer.from(`mock-signature-${seq}`).toString('base64');
  const outputTokens = (tool ? words(JSON.stringify(toolInput)) : words(answer)) + thinkingTokens;
  const usage = {
    input_tokens: prompt.total - prompt.cached,
    output_tokens: outputTokens,
    cache_read_input_tokens: prompt.read,
    cache_creation_input_tokens: prompt.write5m + prompt.write1h,
    cache_creation: { ephemeral_5m_input_tokens: prompt.write5m, ephemeral_1h_input_tokens: prompt.write1h },
    ...(thinks ? { output_tokens_details: { thinking_tokens: thinkingTokens } } : {}),
  };
  const stopReason = tool ? 'tool_use' : 'end_turn';

  if (params.stream !== true) {
    const content: Json[] = thinks ? [{ type: 'thinking', thinking: shownThought, signature }] : [];
    content.push(
      tool
        ? { type: 'tool_use', id: `toolu_mock${seq}`, name: tool, input: toolInput }
        : { type: 'text', text: answer },
    );
    return {
      status: 200,
      json: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      },
    };
  }

  const event = (data: Json) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
  const events = [
    event({
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
  ];
  let index = 0;
  if (thinks) {
    events.push(
      event({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }),
    );
    if (shownThought !== '') {
      for (const text of pieces(shownThought)) {
        events.push(event({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: text } }));
      }
    }
    events.push(event({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature } }));
    events.push(event({ type: 'content_block_stop', index }));
    index++;
  }
  if (tool) {
    events.push(
      event({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: `toolu_mock${seq}`, name: tool, input: {} },
      }),
    );
    const json = JSON.stringify(toolInput);
    const half = Math.floor(json.length / 2);
    for (const partial of [json.slice(0, half), json.slice(half)]) {
      events.push(
        event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } }),
      );
    }
  } else {
    events.push(event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
    events.push(event({ type: 'ping' }));
    for (const text of pieces(answer)) {
      events.push(event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
    }
  }
  events.push(event({ type: 'content_block_stop', index }));
  events.push(
    event({
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    }),
  );
  events.push(event({ type: 'message_stop' }));
  return { status: 200, events };
}
