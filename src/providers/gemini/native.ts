// Gemini's generateContent spoken by the client
// (`/gemini/v1beta/models/{model}:generateContent|streamGenerateContent`), bridged to a
// target of another provider: the request written as OpenAI's chat completion, and the
// chat answer, its stream and its errors written back as Gemini's. (To a Gemini target the
// request goes as sent: see providers/native.ts and routing.)
import { badRequest } from '../../errors.js';
import { toolArguments } from '../../wire/chat.js';
import { array, count, isObject, type Json, text } from '../../wire/json.js';
import { ChatStreamReader, type NativeApi } from '../provider.js';

/** OpenAI's finish reasons as Gemini's. */
const FINISH_REASONS: Record<string, string> = {
  stop: 'STOP',
  tool_calls: 'STOP',
  function_call: 'STOP',
  length: 'MAX_TOKENS',
  content_filter: 'SAFETY',
};

/** Google's status names by HTTP status, as its errors carry them. */
function statusName(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 408 || status === 504) return 'DEADLINE_EXCEEDED';
  if (status === 429) return 'RESOURCE_EXHAUSTED';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 500) return 'INTERNAL';
  if (status === 422) return 'FAILED_PRECONDITION';
  return 'INVALID_ARGUMENT';
}

/**
 * Function calls and responses are paired by name (their ids are optional): the k-th call
 * of a function and its k-th response get the same made-up id when they have none.
 */
class CallIds {
  private readonly calls = new Map<string, number>();
  private readonly responses = new Map<string, number>();

  call(name: string, id: unknown): string {
    return text(id) || this.next(this.calls, name);
  }

  response(name: string, id: unknown): string {
    return text(id) || this.next(this.responses, name);
  }

  private next(counts: Map<string, number>, name: string): string {
    const k = counts.get(name) ?? 0;
    counts.set(name, k + 1);
    return `call_${name}_${k}`;
  }
}

/** One Content as OpenAI messages: function responses become tool messages ahead of the turn's parts. */
function chatMessages(content: unknown, at: number, ids: CallIds): Json[] {
  const where = `contents.${at}`;
  if (!isObject(content)) throw badRequest(`${where}: a content must be an object`);
  const role = content.role ?? 'user';
  if (role !== 'user' && role !== 'model') throw badRequest(`${where}.role: "user" or "model"`);
  const parts: Json[] = [];
  const toolCalls: Json[] = [];
  const toolResults: Json[] = [];
  array(content.parts).forEach((part, i) => {
    const here = `${where}.parts.${i}`;
    if (!isObject(part)) throw badRequest(`${here}: a part must be an object`);
    // The model's own thoughts, sent back in a conversation: not a prompt.
    if (part.thought === true) return;
    if (typeof part.text === 'string') parts.push({ type: 'text', text: part.text });
    else if (isObject(part.inlineData)) {
      const { mimeType, data } = part.inlineData;
      if (!text(mimeType).startsWith('image/')) throw badRequest(`${here}.inlineData: only images are supported`);
      parts.push({ type: 'image_url', image_url: { url: `data:${text(mimeType)};base64,${text(data)}` } });
    } else if (isObject(part.fileData)) {
      if (!text(part.fileData.mimeType).startsWith('image/'))
        throw badRequest(`${here}.fileData: only images are supported`);
      parts.push({ type: 'image_url', image_url: { url: text(part.fileData.fileUri) } });
    } else if (isObject(part.functionCall)) {
      const name = text(part.functionCall.name);
      toolCalls.push({
        id: ids.call(name, part.functionCall.id),
        type: 'function',
        function: { name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    } else if (isObject(part.functionResponse)) {
      const name = text(part.functionResponse.name);
      toolResults.push({
        role: 'tool',
        tool_call_id: ids.response(name, part.functionResponse.id),
        content: JSON.stringify(part.functionResponse.response ?? {}),
      });
    } else {
      throw badRequest(`${here}: only text, image, functionCall and functionResponse parts are supported`);
    }
  });
  if (role === 'model') {
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

/** The system instruction's text: a Content, or a string as the SDKs also send it. */
function systemText(instruction: unknown): string {
  if (typeof instruction === 'string') return instruction;
  if (!isObject(instruction)) throw badRequest('systemInstruction: a content with text parts');
  return array(instruction.parts)
    .map((part) => (isObject(part) ? text(part.text) : ''))
    .join('\n');
}

/** Gemini's schemas name types in capitals (`OBJECT`); JSON Schema, which OpenAI takes, in lower case. */
function jsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchema);
  if (!isObject(schema)) return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === 'type' && typeof value === 'string' ? value.toLowerCase() : jsonSchema(value),
    ]),
  );
}

function chatTools(tools: unknown): Json[] {
  return array(tools).flatMap((tool, i) => {
    if (!isObject(tool) || !Array.isArray(tool.functionDeclarations)) {
      throw badRequest(`tools.${i}: only functionDeclarations are supported, not Google's built-in tools`);
    }
    return tool.functionDeclarations.map((declaration): Json => {
      const d = isObject(declaration) ? declaration : {};
      const parameters = d.parametersJsonSchema ?? (d.parameters === undefined ? undefined : jsonSchema(d.parameters));
      return {
        type: 'function',
        function: {
          name: text(d.name),
          ...(typeof d.description === 'string' ? { description: d.description } : {}),
          ...(isObject(parameters) ? { parameters } : {}),
        },
      };
    });
  });
}

function chatToolChoice(config: unknown): Json {
  const calling = isObject(config) && isObject(config.functionCallingConfig) ? config.functionCallingConfig : {};
  const allowed = array(calling.allowedFunctionNames);
  switch (calling.mode) {
    case undefined:
    case 'MODE_UNSPECIFIED':
    case 'AUTO':
      return {};
    case 'NONE':
      return { tool_choice: 'none' };
    case 'ANY':
    case 'VALIDATED':
      return allowed.length === 1
        ? { tool_choice: { type: 'function', function: { name: text(allowed[0]) } } }
        : { tool_choice: 'required' };
    default:
      throw badRequest(`toolConfig.functionCallingConfig.mode: ${String(calling.mode)} is not supported`);
  }
}

function generation(config: unknown): Json {
  const c = isObject(config) ? config : {};
  const number = (name: string, as: string) => (typeof c[name] === 'number' ? { [as]: c[name] } : {});
  const json = c.responseMimeType === 'application/json';
  const schema = c.responseJsonSchema ?? (c.responseSchema === undefined ? undefined : jsonSchema(c.responseSchema));
  return {
    ...number('maxOutputTokens', 'max_tokens'),
    ...number('temperature', 'temperature'),
    ...number('topP', 'top_p'),
    ...number('candidateCount', 'n'),
    ...number('seed', 'seed'),
    ...number('presencePenalty', 'presence_penalty'),
    ...number('frequencyPenalty', 'frequency_penalty'),
    ...(Array.isArray(c.stopSequences) && c.stopSequences.length > 0 ? { stop: c.stopSequences } : {}),
    ...(json && isObject(schema)
      ? { response_format: { type: 'json_schema', json_schema: { name: 'response', schema } } }
      : json
        ? { response_format: { type: 'json_object' } }
        : {}),
  };
}

/** A generateContent request (model and stream from the path) as a chat completion request. */
export function chatRequestOf(
  body: Json,
  route: { model: string; stream: boolean },
  endUser: string | undefined,
): Json {
  if (!Array.isArray(body.contents)) throw badRequest('contents: an array of contents is required');
  const ids = new CallIds();
  const system =
    body.systemInstruction === undefined ? [] : [{ role: 'system', content: systemText(body.systemInstruction) }];
  const tools = chatTools(body.tools);
  return {
    model: route.model,
    messages: [...system, ...body.contents.flatMap((content, at) => chatMessages(content, at, ids))],
    ...generation(body.generationConfig),
    ...(tools.length > 0 ? { tools, ...chatToolChoice(body.toolConfig) } : {}),
    ...(endUser ? { user: endUser } : {}),
    // The usage chunk gives the stream's last response its usageMetadata.
    ...(route.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

function usageMetadata(usage: unknown): Json {
  const u = isObject(usage) ? usage : {};
  const prompt = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const completion = isObject(u.completion_tokens_details) ? u.completion_tokens_details : {};
  const thoughts = count(completion.reasoning_tokens);
  const cached = count(prompt.cached_tokens);
  return {
    promptTokenCount: count(u.prompt_tokens),
    candidatesTokenCount: count(u.completion_tokens) - thoughts,
    totalTokenCount: count(u.total_tokens) || count(u.prompt_tokens) + count(u.completion_tokens),
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function functionCallParts(calls: unknown): Json[] {
  return array(calls).flatMap((call): Json[] =>
    isObject(call) && isObject(call.function)
      ? [
          {
            functionCall: {
              id: text(call.id),
              name: text(call.function.name),
              args: toolArguments(call.function.arguments),
            },
          },
        ]
      : [],
  );
}

/** A chat completion as a GenerateContentResponse. */
export function responseOf(completion: Json): Json {
  const candidates = array(completion.choices).map((choice, i) => {
    const c = isObject(choice) ? choice : {};
    const message = isObject(c.message) ? c.message : {};
    const answer = text(message.content);
    const parts = [...(answer === '' ? [] : [{ text: answer }]), ...functionCallParts(message.tool_calls)];
    return {
      content: { role: 'model', parts },
      finishReason: FINISH_REASONS[text(c.finish_reason)] ?? 'STOP',
      index: typeof c.index === 'number' ? c.index : i,
    };
  });
  return {
    candidates,
    usageMetadata: usageMetadata(completion.usage),
    modelVersion: text(completion.model),
    responseId: text(completion.id),
  };
}

function geminiError(status: number, message: string): Json {
  return { error: { code: status, message, status: statusName(status) } };
}

const event = (data: Json) => `data: ${JSON.stringify(data)}\r\n\r\n`;

/**
 * chat.completion.chunk events as streamed GenerateContentResponses: text as it comes;
 * function calls (Gemini sends each whole) gathered and sent with the finish reason and
 * the usage in the last response.
 */
class GenerateContentStream extends ChatStreamReader {
  private id = '';
  private model = '';
  private finishReason: string | null = null;
  private usage: Json | null = null;
  private readonly calls: { id: string; name: string; arguments: string }[] = [];

  protected chunk(chunk: Json): void {
    this.id ||= text(chunk.id);
    this.model ||= text(chunk.model);
    if (isObject(chunk.usage)) this.usage = chunk.usage;
    for (const choice of array(chunk.choices)) {
      if (!isObject(choice)) continue;
      const delta = isObject(choice.delta) ? choice.delta : {};
      const content = text(delta.content);
      if (content !== '') this.send([{ text: content }], null);
      for (const call of array(delta.tool_calls)) {
        if (!isObject(call)) continue;
        const fn = isObject(call.function) ? call.function : {};
        const at = typeof call.index === 'number' ? call.index : 0;
        this.calls[at] ??= { id: text(call.id), name: text(fn.name), arguments: '' };
        (this.calls[at] as { arguments: string }).arguments += text(fn.arguments);
      }
      if (typeof choice.finish_reason === 'string') this.finishReason = FINISH_REASONS[choice.finish_reason] ?? 'STOP';
    }
  }

  protected error(error: Json): void {
    const message = text(isObject(error.error) ? error.error.message : undefined) || 'stream failed';
    this.out += event({ error: { code: 500, message, status: 'INTERNAL' } });
  }

  protected done(): void {
    const parts = functionCallParts(
      this.calls.map((call) => ({ id: call.id, function: { name: call.name, arguments: call.arguments } })),
    );
    this.send(parts, this.finishReason ?? 'STOP');
  }

  private send(parts: Json[], finishReason: string | null): void {
    const last = finishReason !== null;
    this.out += event({
      candidates: [{ content: { role: 'model', parts }, ...(last ? { finishReason } : {}), index: 0 }],
      ...(last && this.usage ? { usageMetadata: usageMetadata(this.usage) } : {}),
      modelVersion: this.model,
      responseId: this.id,
    });
  }
}

/** The native route for one model, streamed or not (both are in Gemini's path). */
export function generateContent(route: { model: string; stream: boolean }): NativeApi {
  return {
    provider: 'gemini',
    keyHeader: 'x-goog-api-key',
    chatRequest: (body, endUser) => chatRequestOf(body, route, endUser),
    answer: responseOf,
    requestIdHeader: null,
    error: geminiError,
    errorEvent: (status, message) => event(geminiError(status, message)),
    stream: () => new GenerateContentStream(),
  };
}
