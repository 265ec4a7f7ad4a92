// OpenAI's Responses API (`POST /v1/responses`) served by a chat-completions target (Anthropic,
// Gemini, Bedrock): the request written as a chat completion, refused with a 400 naming the field
// only where it needs what OpenAI alone has (stored state, hosted tools), and the chat answer, its
// chunk stream and its errors written back as a `response` object and Responses stream events.
import { randomUUID } from 'node:crypto';
import { badRequest } from '../../errors.js';
import { array, count, isObject, type Json, text } from '../../wire/json.js';
import { type ChatBridge, ChatStreamReader, openAiError } from '../provider.js';

/** Null means absent in the Responses API, as the SDKs send it. */
const given = (value: unknown) => value !== undefined && value !== null;

/** What the answer needs from the request: the fields OpenAI echoes, and which tools are custom. */
interface Echo {
  fields: Json;
  /** Names of custom (freeform) tools: their calls go back as `custom_tool_call` items. */
  custom: Set<string>;
}

const EMPTY_ECHO: Echo = { fields: {}, custom: new Set() };

// ---- the request ----

/** Fields that need state or work only OpenAI has: refused, since ignoring them would change the answer. */
function refuseOpenAiOnly(body: Json): void {
  if (given(body.previous_response_id)) {
    throw badRequest(
      'previous_response_id: this target keeps no stored responses; send the whole conversation in input',
    );
  }
  if (given(body.conversation)) {
    throw badRequest('conversation: this target keeps no conversations; send the whole conversation in input');
  }
  if (given(body.prompt)) {
    throw badRequest('prompt: stored prompt templates live at OpenAI; send instructions and input instead');
  }
  if (body.background === true) {
    throw badRequest('background: background responses run at OpenAI; this target answers in the foreground only');
  }
}

const storedFile = (where: string) =>
  badRequest(`${where}: files stored at OpenAI cannot be read by this target; send the file's data instead`);

/** One content part of a user message as a chat content part. */
function userPart(part: unknown, where: string): Json {
  if (!isObject(part)) throw badRequest(`${where}: a content part must be an object`);
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: text(part.text) };
    case 'input_image': {
      if (!given(part.image_url))
        throw given(part.file_id) ? storedFile(`${where}.file_id`) : badRequest(`${where}.image_url: required`);
      // 'original' has no chat counterpart: the target's default detail applies.
      const detail = ['auto', 'low', 'high'].includes(text(part.detail)) ? { detail: part.detail } : {};
      return { type: 'image_url', image_url: { url: text(part.image_url), ...detail } };
    }
    case 'input_file':
      if (given(part.file_id)) throw storedFile(`${where}.file_id`);
      if (!given(part.file_data)) throw badRequest(`${where}: only file_data can be sent to this target, not file_url`);
      return {
        type: 'file',
        file: { file_data: text(part.file_data), ...(given(part.filename) ? { filename: text(part.filename) } : {}) },
      };
    case 'input_audio':
      return { type: 'input_audio', input_audio: part.input_audio };
    default:
      throw badRequest(`${where}.type: ${String(part.type)} is not supported in a user message`);
  }
}

/** The text (and refusal) of an assistant, system or developer message: the chat format takes text only there. */
function textParts(content: unknown[], role: string, where: string): { text: string; refusal: string } {
  let out = '';
  let refusal = '';
  content.forEach((part, i) => {
    const type = isObject(part) ? part.type : undefined;
    if (isObject(part) && (type === 'input_text' || type === 'output_text')) out += text(part.text);
    else if (isObject(part) && type === 'refusal' && role === 'assistant') refusal += text(part.refusal);
    else throw badRequest(`${where}.${i}: a ${role} message carries text only`);
  });
  return { text: out, refusal };
}

function message(item: Json, where: string): Json {
  const role = item.role;
  if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
    throw badRequest(`${where}.role: "user", "assistant", "system" or "developer"`);
  }
  const content = item.content;
  if (typeof content === 'string') return { role, content };
  if (!Array.isArray(content)) throw badRequest(`${where}.content: a string or an array of content parts`);
  if (role === 'user') return { role, content: content.map((part, i) => userPart(part, `${where}.content.${i}`)) };
  const parts = textParts(content, role, `${where}.content`);
  return { role, content: parts.text, ...(parts.refusal === '' ? {} : { refusal: parts.refusal }) };
}

/** A tool call joins the assistant message before it: one chat turn holds the text and every call. */
function addToolCall(messages: Json[], call: Json): void {
  const last = messages.at(-1);
  if (last?.role === 'assistant') last.tool_calls = [...array(last.tool_calls), call];
  else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

/** A tool's output as a tool message's content: the chat format's tool messages carry text only. */
function toolOutput(output: unknown, where: string): string | Json[] {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw badRequest(`${where}: a string or an array of content parts`);
  return output.map((part, i) => {
    if (isObject(part) && part.type === 'input_text') return { type: 'text', text: text(part.text) };
    throw badRequest(`${where}.${i}: a tool output reaches this target as text only`);
  });
}

/** One input item into the chat messages. */
function addItem(messages: Json[], item: unknown, where: string): void {
  if (!isObject(item)) throw badRequest(`${where}: an input item must be an object`);
  const type = item.type ?? (given(item.role) ? 'message' : undefined);
  switch (type) {
    case 'message':
      messages.push(message(item, where));
      return;
    case 'function_call':
      addToolCall(messages, {
        id: text(item.call_id),
        type: 'function',
        function: { name: text(item.name), arguments: text(item.arguments) },
      });
      return;
    case 'custom_tool_call':
      addToolCall(messages, {
        id: text(item.call_id),
        type: 'function',
        function: { name: text(item.name), arguments: JSON.stringify({ input: text(item.input) }) },
      });
      return;
    case 'function_call_output':
    case 'custom_tool_call_output':
      messages.push({
        role: 'tool',
        tool_call_id: text(item.call_id),
        content: toolOutput(item.output, `${where}.output`),
      });
      return;
    // The model's earlier reasoning: not a prompt, and encrypted by OpenAI, so no other provider can read it.
    case 'reasoning':
      return;
    case 'item_reference':
      throw badRequest(`${where}: item_reference points at an item OpenAI stored; send the item itself`);
    default:
      throw badRequest(
        `${where}.type: ${String(type)} is not supported by this target (message, function_call, function_call_output, custom_tool_call, custom_tool_call_output and reasoning are)`,
      );
  }
}

function chatMessages(body: Json): Json[] {
  const messages: Json[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    messages.push({ role: 'system', content: body.instructions });
  }
  const input = body.input;
  if (typeof input === 'string') messages.push({ role: 'user', content: input });
  else if (Array.isArray(input))
    input.forEach((item, i) => {
      addItem(messages, item, `input.${i}`);
    });
  else if (given(input)) throw badRequest('input: a string or an array of input items');
  if (messages.length === 0) throw badRequest('input: a string or an array of input items is required');
  return messages;
}

/**
 * A custom (freeform) tool as a function taking its text as one string argument, so every
 * chat target can call it; a grammar cannot be enforced there, so the model is told it instead.
 */
function customTool(tool: Json): Json {
  const format = isObject(tool.format) ? tool.format : {};
  const input =
    format.type === 'grammar'
      ? `The tool's raw input, written in this ${text(format.syntax)} grammar:\n${text(format.definition)}`
      : "The tool's raw input as text";
  return {
    type: 'function',
    function: {
      name: text(tool.name),
      ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
      parameters: {
        type: 'object',
        properties: { input: { type: 'string', description: input } },
        required: ['input'],
        additionalProperties: false,
      },
    },
  };
}

function chatTools(tools: unknown, custom: Set<string>): Json[] {
  return array(tools).map((tool, i) => {
    if (!isObject(tool)) throw badRequest(`tools.${i}: a tool must be an object`);
    if (tool.type !== 'function' && tool.type !== 'custom') {
      throw badRequest(
        `tools.${i}.type: ${String(tool.type)} is a tool OpenAI runs itself; this target can call function and custom tools only`,
      );
    }
    if (typeof tool.name !== 'string' || tool.name === '') throw badRequest(`tools.${i}.name: a tool name is required`);
    if (tool.type === 'custom') {
      custom.add(tool.name);
      return customTool(tool);
    }
    return {
      type: 'function',
      function: {
        name: tool.name,
        ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
        ...(isObject(tool.parameters) ? { parameters: tool.parameters } : {}),
        ...(typeof tool.strict === 'boolean' ? { strict: tool.strict } : {}),
      },
    };
  });
}

const namedTool = (name: unknown) => ({ type: 'function', function: { name: text(name) } });

function chatToolChoice(choice: unknown): Json {
  if (!given(choice)) return {};
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { tool_choice: choice };
  if (!isObject(choice)) throw badRequest('tool_choice: "auto", "none", "required" or a tool');
  if (choice.type === 'function' || choice.type === 'custom') return { tool_choice: namedTool(choice.name) };
  if (choice.type === 'allowed_tools') {
    const tools = array(choice.tools).map((tool, i) => {
      if (isObject(tool) && (tool.type === 'function' || tool.type === 'custom')) return namedTool(tool.name);
      throw badRequest(`tool_choice.tools.${i}: this target can be limited to function and custom tools only`);
    });
    return { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: text(choice.mode) || 'auto', tools } } };
  }
  throw badRequest(
    `tool_choice.type: ${String(choice.type)} chooses a tool OpenAI runs itself; this target can call function and custom tools only`,
  );
}

/** `text`: the output format as chat's response_format, and the verbosity chat also takes. */
function chatText(config: unknown): Json {
  if (!isObject(config)) return {};
  const format = isObject(config.format) ? config.format : { type: 'text' };
  const verbosity = typeof config.verbosity === 'string' ? { verbosity: config.verbosity } : {};
  switch (format.type) {
    case 'text':
      return verbosity;
    case 'json_object':
      return { response_format: { type: 'json_object' }, ...verbosity };
    case 'json_schema':
      return {
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: text(format.name) || 'response',
            schema: format.schema,
            ...(typeof format.description === 'string' ? { description: format.description } : {}),
            ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
          },
        },
        ...verbosity,
      };
    default:
      throw badRequest(
        `text.format.type: ${String(format.type)} is not supported ("text", "json_object", "json_schema")`,
      );
  }
}

/** Fields with the same name and meaning in both APIs, copied when given. */
const SAME_FIELDS = [
  'temperature',
  'top_p',
  'parallel_tool_calls',
  'metadata',
  'service_tier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'prompt_cache_options',
  'safety_identifier',
] as const;

/*
 * Read and dropped on purpose: `store` (the target stores nothing; the answer is not kept, so a
 * later previous_response_id is refused), `include` (nothing to include: no encrypted reasoning,
 * no hosted tool results), `truncation` (the target fails over its window, as 'disabled' does),
 * `reasoning.summary` (chat has no reasoning summaries), `context_management` (compaction runs
 * at OpenAI; the whole conversation is sent), `stream_options` (the gateway asks for usage itself).
 */
function chatRequestOf(body: Json, endUser: string | undefined, custom: Set<string>): Json {
  if (typeof body.model !== 'string' || body.model === '') throw badRequest('model: a model name is required');
  refuseOpenAiOnly(body);
  const messages = chatMessages(body);
  const tools = chatTools(body.tools, custom);
  const same = Object.fromEntries(SAME_FIELDS.filter((name) => given(body[name])).map((name) => [name, body[name]]));
  const reasoning = isObject(body.reasoning) ? body.reasoning : {};
  const user = text(body.user) || text(body.safety_identifier) || endUser;
  return {
    model: body.model,
    messages,
    ...same,
    ...(typeof body.max_output_tokens === 'number' ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(typeof body.top_logprobs === 'number' ? { logprobs: true, top_logprobs: body.top_logprobs } : {}),
    ...(typeof reasoning.effort === 'string' ? { reasoning_effort: reasoning.effort } : {}),
    ...chatText(body.text),
    ...(tools.length > 0 ? { tools } : {}),
    ...chatToolChoice(body.tool_choice),
    ...(user ? { user } : {}),
    // The usage chunk gives the closing response.completed its usage.
    ...(body.stream === true ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

/** The request's fields that every `response` object repeats, as OpenAI fills them when absent. */
function echoOf(body: Json, custom: Set<string>): Echo {
  const reasoning = isObject(body.reasoning) ? body.reasoning : {};
  const optional = (name: string) => (typeof body[name] === 'string' ? { [name]: body[name] } : {});
  return {
    custom,
    fields: {
      instructions: typeof body.instructions === 'string' ? body.instructions : null,
      max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
      metadata: isObject(body.metadata) ? body.metadata : {},
      model: text(body.model),
      parallel_tool_calls: body.parallel_tool_calls !== false,
      previous_response_id: null,
      reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
      temperature: typeof body.temperature === 'number' ? body.temperature : null,
      text: isObject(body.text) ? body.text : { format: { type: 'text' } },
      tool_choice: given(body.tool_choice) ? body.tool_choice : 'auto',
      tools: array(body.tools),
      top_p: typeof body.top_p === 'number' ? body.top_p : null,
      truncation: given(body.truncation) ? body.truncation : 'disabled',
      ...optional('user'),
      ...optional('safety_identifier'),
      ...optional('prompt_cache_key'),
    },
  };
}

// ---- the answer ----

/** Chat's finish reasons that leave a response incomplete, with OpenAI's reason. */
const INCOMPLETE: Record<string, string> = { length: 'max_output_tokens', content_filter: 'content_filter' };

/** Ids are the chat answer's own, kept readable: `resp_…`, `msg_…`, `fc_…`. */
const idBase = (id: unknown) => text(id).replace(/[^A-Za-z0-9_-]/g, '') || randomUUID().replaceAll('-', '');

/** Chat usage as the Responses usage object. */
function responsesUsage(usage: unknown): Json | undefined {
  if (!isObject(usage)) return undefined;
  const prompt = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completion = isObject(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  return {
    input_tokens: count(usage.prompt_tokens),
    input_tokens_details: {
      cached_tokens: count(prompt.cached_tokens),
      cache_write_tokens: count(prompt.cache_write_tokens),
    },
    output_tokens: count(usage.completion_tokens),
    output_tokens_details: { reasoning_tokens: count(completion.reasoning_tokens) },
    total_tokens: count(usage.total_tokens) || count(usage.prompt_tokens) + count(usage.completion_tokens),
  };
}

/** A custom tool's input from the one-string-argument function it was sent as; the raw text if the model did otherwise. */
function customInput(args: string): string {
  try {
    const value: unknown = JSON.parse(args);
    if (isObject(value) && typeof value.input === 'string') return value.input;
  } catch {
    // not JSON: the raw text is the input
  }
  return args;
}

function toolCallItem(callId: string, name: string, args: string, echo: Echo, status: string): Json {
  if (echo.custom.has(name)) {
    return { id: `ctc_${callId}`, type: 'custom_tool_call', call_id: callId, name, input: customInput(args) };
  }
  return { id: `fc_${callId}`, type: 'function_call', status, arguments: args, call_id: callId, name };
}

const outputText = (value: string, logprobs: unknown[]) => ({
  type: 'output_text',
  annotations: [],
  logprobs,
  text: value,
});

/** chat's `choice.logprobs` as the Responses logprobs: the entries have the same fields. */
const logprobsOf = (logprobs: unknown): unknown[] => array(isObject(logprobs) ? logprobs.content : undefined);

interface ResponseState {
  id: string;
  createdAt: number;
  model: string;
  status: string;
  output: Json[];
  finishReason?: string | null;
  usage?: Json;
  error?: Json;
}

function responseObject(echo: Echo, state: ResponseState): Json {
  const reason = INCOMPLETE[state.finishReason ?? ''];
  return {
    id: state.id,
    object: 'response',
    created_at: state.createdAt,
    status: state.status,
    background: false,
    error: state.error ?? null,
    incomplete_details: reason ? { reason } : null,
    ...echo.fields,
    model: state.model || text(echo.fields.model),
    output: state.output,
    ...(state.usage ? { usage: state.usage } : {}),
  };
}

const statusOf = (finishReason: unknown) => (INCOMPLETE[text(finishReason)] ? 'incomplete' : 'completed');

function answerOf(completion: Json, echo: Echo): Json {
  const choice = array(completion.choices).find(isObject) ?? {};
  const chat = isObject(choice.message) ? choice.message : {};
  const base = idBase(completion.id);
  const status = statusOf(choice.finish_reason);
  const content: Json[] = [];
  if (text(chat.content) !== '') content.push(outputText(text(chat.content), logprobsOf(choice.logprobs)));
  if (text(chat.refusal) !== '') content.push({ type: 'refusal', refusal: text(chat.refusal) });
  const output: Json[] =
    content.length > 0 ? [{ id: `msg_${base}`, type: 'message', role: 'assistant', status, content }] : [];
  for (const call of array(chat.tool_calls)) {
    if (!isObject(call) || !isObject(call.function)) continue;
    output.push(
      toolCallItem(text(call.id), text(call.function.name), text(call.function.arguments), echo, 'completed'),
    );
  }
  return responseObject(echo, {
    id: `resp_${base}`,
    createdAt: typeof completion.created === 'number' ? completion.created : Math.floor(Date.now() / 1000),
    model: text(completion.model),
    status,
    output,
    finishReason: text(choice.finish_reason),
    usage: responsesUsage(completion.usage),
  });
}

// ---- the stream ----

interface OpenMessage {
  index: number;
  item: Json;
  text: string;
  logprobs: unknown[];
}

interface OpenCall {
  index: number;
  item: Json;
  arguments: string;
}

/**
 * chat.completion.chunk events as Responses stream events: response.created and in_progress,
 * each output item added, its deltas, done, and response.completed (or incomplete, or failed)
 * carrying the whole response. Tool calls stay open until the end, as a chat stream may
 * interleave them.
 */
class ResponsesStream extends ChatStreamReader {
  private sequence = 0;
  private started = false;
  private base = '';
  private createdAt = 0;
  private model = '';
  private readonly output: Json[] = [];
  private message: OpenMessage | null = null;
  private readonly calls = new Map<number, OpenCall>();
  private finishReason: string | null = null;
  private usage: Json | undefined;

  constructor(private readonly echo: Echo) {
    super();
  }

  protected chunk(chunk: Json): void {
    this.start(chunk);
    if (isObject(chunk.usage)) this.usage = responsesUsage(chunk.usage);
    for (const choice of array(chunk.choices)) {
      if (!isObject(choice) || count(choice.index) !== 0) continue;
      const delta = isObject(choice.delta) ? choice.delta : {};
      const content = text(delta.content);
      if (content !== '') this.text(content, logprobsOf(choice.logprobs));
      for (const call of array(delta.tool_calls)) if (isObject(call)) this.toolCall(call);
      if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    }
  }

  protected error(data: Json): void {
    this.start({});
    const error = isObject(data.error) ? data.error : {};
    const message = text(error.message) || 'stream failed';
    const type = text(error.type);
    const code = text(error.code) || (type.startsWith('rate_limit') ? 'rate_limit_exceeded' : 'server_error');
    this.send('error', { code, message, param: error.param ?? null });
    this.send('response.failed', { response: this.snapshot('failed', { code, message }) });
  }

  protected done(): void {
    this.start({});
    const status = statusOf(this.finishReason);
    this.closeMessage(status);
    for (const call of this.calls.values()) this.closeCall(call, status);
    const type = status === 'incomplete' ? 'response.incomplete' : 'response.completed';
    this.send(type, { response: this.snapshot(status) });
  }

  private start(chunk: Json): void {
    if (this.started) return;
    this.started = true;
    this.base = idBase(chunk.id);
    this.createdAt = typeof chunk.created === 'number' ? chunk.created : Math.floor(Date.now() / 1000);
    this.model = text(chunk.model);
    this.send('response.created', { response: this.snapshot('in_progress') });
    this.send('response.in_progress', { response: this.snapshot('in_progress') });
  }

  private text(delta: string, logprobs: unknown[]): void {
    if (!this.message) {
      const n = this.output.length;
      const item = {
        id: `msg_${this.base}${n === 0 ? '' : `_${n}`}`,
        type: 'message',
        status: 'in_progress',
        content: [],
        role: 'assistant',
      };
      this.message = this.add(item, { text: '', logprobs: [] });
      this.send('response.content_part.added', {
        ...this.at(this.message),
        content_index: 0,
        part: outputText('', []),
      });
    }
    this.message.text += delta;
    this.message.logprobs.push(...logprobs);
    this.send('response.output_text.delta', { ...this.at(this.message), content_index: 0, delta, logprobs });
  }

  private toolCall(call: Json): void {
    const at = count(call.index);
    const fn = isObject(call.function) ? call.function : {};
    let open = this.calls.get(at);
    if (!open) {
      this.closeMessage('completed');
      const callId = text(call.id) || `call_${this.base}_${at}`;
      const item = toolCallItem(callId, text(fn.name), '', this.echo, 'in_progress');
      open = this.add(item, { arguments: '' });
      this.calls.set(at, open);
    }
    const delta = text(fn.arguments);
    if (delta === '') return;
    open.arguments += delta;
    // A custom tool's input is inside a JSON string until the call ends: it is sent whole then.
    if (open.item.type === 'function_call')
      this.send('response.function_call_arguments.delta', { ...this.at(open), delta });
  }

  private closeMessage(status: string): void {
    const open = this.message;
    if (!open) return;
    this.message = null;
    const part = outputText(open.text, open.logprobs);
    const at = { ...this.at(open), content_index: 0 };
    this.send('response.output_text.done', { ...at, text: open.text, logprobs: open.logprobs });
    this.send('response.content_part.done', { ...at, part });
    Object.assign(open.item, { status, content: [part] });
    this.send('response.output_item.done', { output_index: open.index, item: open.item });
  }

  private closeCall(open: OpenCall, status: string): void {
    const item = open.item;
    if (item.type === 'custom_tool_call') {
      const input = customInput(open.arguments);
      if (input !== '') this.send('response.custom_tool_call_input.delta', { ...this.at(open), delta: input });
      this.send('response.custom_tool_call_input.done', { ...this.at(open), input });
      item.input = input;
    } else {
      this.send('response.function_call_arguments.done', {
        ...this.at(open),
        name: item.name,
        arguments: open.arguments,
      });
      Object.assign(item, { status, arguments: open.arguments });
    }
    this.send('response.output_item.done', { output_index: open.index, item });
  }

  /** A new output item, announced as added (a copy: the item itself changes until it is done). */
  private add<T extends object>(item: Json, state: T): T & { index: number; item: Json } {
    const index = this.output.length;
    this.output.push(item);
    this.send('response.output_item.added', { output_index: index, item: { ...item } });
    return { ...state, index, item };
  }

  private at(open: { index: number; item: Json }): Json {
    return { item_id: open.item.id, output_index: open.index };
  }

  private snapshot(status: string, error?: Json): Json {
    return responseObject(this.echo, {
      id: `resp_${this.base}`,
      createdAt: this.createdAt,
      model: this.model,
      status,
      output: this.output,
      finishReason: status === 'in_progress' ? null : this.finishReason,
      usage: status === 'in_progress' ? undefined : this.usage,
      error,
    });
  }

  private send(type: string, data: Json): void {
    const event = { type, sequence_number: this.sequence++, ...data };
    this.out += `event: ${type}\ndata: ${JSON.stringify(event)}\n\n`;
  }
}

/**
 * The bridge for one exchange: the answer repeats the request's fields and turns calls of its
 * custom tools back into `custom_tool_call` items, so it remembers the request it translated.
 * Make one per request; `chatRequest` runs before `answer` and `stream`.
 */
export function responsesBridge(): ChatBridge {
  let echo = EMPTY_ECHO;
  return {
    chatRequest(body, endUser) {
      const custom = new Set<string>();
      const chat = chatRequestOf(body, endUser, custom);
      echo = echoOf(body, custom);
      return chat;
    },
    answer: (completion) => answerOf(completion, echo),
    error: (status, message) => openAiError(status, message),
    stream: () => new ResponsesStream(echo),
  };
}
