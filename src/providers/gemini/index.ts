// Google Gemini (PaLM's successor) behind OpenAI's chat completions and embeddings:
// generateContent / streamGenerateContent (roles, system instruction, parts, tools, usage
// metadata, safety blocks as a clear error) and embedContent / batchEmbedContents.
import { providerRefused } from '../../errors.js';
import { asksForStreamUsage, chatUsage, contentText, toolArguments } from '../../wire/chat.js';
import { array, count, isObject, type Json, parseObject, text } from '../../wire/json.js';
import { ChatChunks, openAiError, type ProviderAdapter, type ProviderCall, ProviderEventStream } from '../provider.js';
import { geminiUsage } from './usage.js';

/** Gemini's finish reasons as OpenAI's; the safety ones are a content filter. */
const FINISH_REASONS: Record<string, string> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
};

const modelPath = (model: string | null) => `models/${(model ?? '').replace(/^models\//, '')}`;

function parts(content: unknown): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return array(content).flatMap((part): Json[] => {
    if (!isObject(part)) return [];
    if (part.type === 'text') return [{ text: text(part.text) }];
    if (part.type === 'image_url') {
      const url = text(isObject(part.image_url) ? part.image_url.url : part.image_url);
      const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
      return [
        data
          ? { inlineData: { mimeType: data[1], data: data[2] } }
          : { fileData: { mimeType: 'image/*', fileUri: url } },
      ];
    }
    return [];
  });
}

/** OpenAI's messages as Gemini's system instruction and contents (roles `user` and `model`). */
export function toGeminiContents(messages: unknown): { system: string | undefined; contents: Json[] } {
  const system: string[] = [];
  const contents: Json[] = [];
  /** Tool call id → function name: a function response names its function, not the call. */
  const callNames = new Map<string, string>();
  const push = (role: string, items: Json[]) => {
    const last = contents.at(-1);
    if (last && last.role === role) (last.parts as Json[]).push(...items);
    else contents.push({ role, parts: items });
  };
  for (const message of array(messages)) {
    if (!isObject(message)) continue;
    if (message.role === 'system' || message.role === 'developer') {
      system.push(contentText(message.content));
    } else if (message.role === 'assistant') {
      const items = parts(message.content);
      for (const call of array(message.tool_calls)) {
        if (!isObject(call) || !isObject(call.function)) continue;
        callNames.set(text(call.id), text(call.function.name));
        items.push({ functionCall: { name: text(call.function.name), args: toolArguments(call.function.arguments) } });
      }
      push('model', items);
    } else if (message.role === 'tool') {
      const name = callNames.get(text(message.tool_call_id)) ?? text(message.tool_call_id);
      push('user', [{ functionResponse: { name, response: { content: contentText(message.content) } } }]);
    } else {
      push('user', parts(message.content));
    }
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, contents };
}

function toolConfig(choice: unknown): Json | undefined {
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (isObject(choice) && isObject(choice.function)) {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [text(choice.function.name)] } };
  }
  return undefined;
}

export function toGeminiRequest(json: Json | null): Json {
  const body = json ?? {};
  const { system, contents } = toGeminiContents(body.messages);
  const declarations = array(body.tools).flatMap((tool): Json[] =>
    isObject(tool) && isObject(tool.function)
      ? [
          {
            name: text(tool.function.name),
            ...(typeof tool.function.description === 'string' ? { description: tool.function.description } : {}),
            ...(isObject(tool.function.parameters) ? { parameters: tool.function.parameters } : {}),
          },
        ]
      : [],
  );
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const stop = body.stop;
  const generationConfig: Json = {
    ...(typeof maxTokens === 'number' ? { maxOutputTokens: maxTokens } : {}),
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { topP: body.top_p } : {}),
    ...(typeof body.n === 'number' ? { candidateCount: body.n } : {}),
    ...(stop === undefined || stop === null ? {} : { stopSequences: Array.isArray(stop) ? stop : [stop] }),
  };
  const config = toolConfig(body.tool_choice);
  return {
    contents,
    ...(system === undefined ? {} : { systemInstruction: { parts: [{ text: system }] } }),
    ...(Object.keys(generationConfig).length > 0 ? { generationConfig } : {}),
    ...(declarations.length > 0 ? { tools: [{ functionDeclarations: declarations }] } : {}),
    ...(config ? { toolConfig: config } : {}),
  };
}

/** Gemini's usage metadata as OpenAI's usage: thinking tokens are completion (reasoning) tokens, cache reads cached ones. */
export function openAiUsage(metadata: unknown): Json {
  const u = geminiUsage(isObject(metadata) ? metadata : {});
  return chatUsage({
    prompt: u?.promptTokens ?? 0,
    completion: u?.completionTokens ?? 0,
    cached: u?.cachedTokens ?? 0,
    reasoning: u?.reasoningTokens ?? 0,
    total: u?.totalTokens ?? 0,
  });
}

/** A prompt Gemini refused to look at: a clear 400 instead of an empty answer. */
function refuseBlockedPrompt(answer: Json): void {
  const feedback = isObject(answer.promptFeedback) ? answer.promptFeedback : undefined;
  if (feedback?.blockReason) {
    throw providerRefused('gemini', `the prompt was blocked (${text(feedback.blockReason)})`);
  }
}

/** A candidate's text and function calls. */
function candidateMessage(candidate: Json, callId: (index: number) => string): { content: string; toolCalls: Json[] } {
  let content = '';
  const toolCalls: Json[] = [];
  const items = isObject(candidate.content) ? array(candidate.content.parts) : [];
  for (const part of items) {
    if (!isObject(part) || part.thought === true) continue;
    if (typeof part.text === 'string') content += part.text;
    if (isObject(part.functionCall)) {
      toolCalls.push({
        index: toolCalls.length,
        id: callId(toolCalls.length),
        type: 'function',
        function: { name: text(part.functionCall.name), arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    }
  }
  return { content, toolCalls };
}

export function toChatCompletion(answer: Json, model: string | null): Json {
  refuseBlockedPrompt(answer);
  const id = text(answer.responseId) || `chatcmpl-gemini${Date.now()}`;
  const choices = array(answer.candidates).map((candidate, index) => {
    const c = isObject(candidate) ? candidate : {};
    const { content, toolCalls } = candidateMessage(c, (i) => `call_${id}_${index}_${i}`);
    const message: Json = {
      role: 'assistant',
      content: toolCalls.length > 0 && content === '' ? null : content,
      refusal: null,
    };
    if (toolCalls.length > 0) message.tool_calls = toolCalls.map(({ index: _i, ...call }) => call);
    const finish = toolCalls.length > 0 ? 'tool_calls' : (FINISH_REASONS[text(c.finishReason)] ?? 'stop');
    return { index: typeof c.index === 'number' ? c.index : index, message, finish_reason: finish, logprobs: null };
  });
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: text(answer.modelVersion) || model,
    choices,
    usage: openAiUsage(answer.usageMetadata),
  };
}

/** Embedding values as OpenAI sends them: numbers, or little-endian float32 in base64. */
function encodeEmbedding(values: unknown, format: unknown): unknown {
  const numbers = array(values).map(Number);
  if (format !== 'base64') return numbers;
  return Buffer.from(new Float32Array(numbers).buffer).toString('base64');
}

export function toEmbeddings(answer: Json, call: ProviderCall): Json {
  const list = isObject(answer.embedding) ? [answer.embedding] : array(answer.embeddings);
  return {
    object: 'list',
    data: list.map((embedding, index) => ({
      object: 'embedding',
      index,
      embedding: encodeEmbedding(isObject(embedding) ? embedding.values : [], call.json?.encoding_format),
    })),
    model: call.model,
  };
}

function embeddingRequest(call: ProviderCall): { path: string; body: Json } {
  const input = call.json?.input;
  const dimensions = call.json?.dimensions;
  const extra = typeof dimensions === 'number' ? { outputDimensionality: dimensions } : {};
  const model = modelPath(call.model);
  if (typeof input === 'string') {
    return { path: `/v1beta/${model}:embedContent`, body: { content: { parts: [{ text: input }] }, ...extra } };
  }
  const texts = array(input).map((item) => (typeof item === 'string' ? item : String(item)));
  return {
    path: `/v1beta/${model}:batchEmbedContents`,
    body: { requests: texts.map((t) => ({ model, content: { parts: [{ text: t }] }, ...extra })) },
  };
}

export function toOpenAiError(status: number, body: string): Json {
  const json = parseObject(body);
  const error = isObject(json?.error) ? json.error : undefined;
  const message = text(error?.message) || body.slice(0, 500) || `gemini answered ${status}`;
  return openAiError(status, message, text(error?.status).toLowerCase() || undefined);
}

class GeminiStream extends ProviderEventStream {
  private usage: unknown = null;
  private started = false;
  private toolCalls = 0;

  constructor(model: string | null, includeUsage: boolean) {
    super(new ChatChunks(`chatcmpl-gemini${Date.now()}`, model ?? '', includeUsage));
  }

  protected override finish(): void {
    this.chunks.finish(this.usage ? openAiUsage(this.usage) : null);
  }

  protected onEvent(data: string): void {
    const answer = parseObject(data);
    if (!answer) return;
    if (!this.started) {
      this.started = true;
      this.chunks.id = text(answer.responseId) || this.chunks.id;
      this.chunks.model = text(answer.modelVersion) || this.chunks.model;
      this.chunks.delta({ role: 'assistant', content: '' });
    }
    const feedback = isObject(answer.promptFeedback) ? answer.promptFeedback : undefined;
    if (feedback?.blockReason) {
      this.chunks.event(
        openAiError(
          400,
          `Usage Panda: gemini refused the request: the prompt was blocked (${text(feedback.blockReason)})`,
        ),
      );
      return;
    }
    if (answer.usageMetadata) this.usage = answer.usageMetadata;
    const candidate = array(answer.candidates)[0];
    if (!isObject(candidate)) return;
    const { content, toolCalls } = candidateMessage(candidate, (i) => `call_${this.chunks.id}_${this.toolCalls + i}`);
    if (content !== '') this.chunks.delta({ content });
    if (toolCalls.length > 0) {
      this.chunks.delta({
        tool_calls: toolCalls.map((call) => ({ ...call, index: this.toolCalls + Number(call.index) })),
      });
      this.toolCalls += toolCalls.length;
    }
    if (candidate.finishReason) {
      this.chunks.delta(
        {},
        this.toolCalls > 0 ? 'tool_calls' : (FINISH_REASONS[text(candidate.finishReason)] ?? 'stop'),
      );
    }
  }
}

export const gemini: ProviderAdapter = {
  name: 'gemini',
  defaultBaseUrl: () => 'https://generativelanguage.googleapis.com',
  serves: (endpoint) => endpoint === 'chat.completions' || endpoint === 'embeddings',
  needsApiKey: true,
  request(call) {
    const headers = { 'content-type': 'application/json', 'x-goog-api-key': call.apiKey ?? '' };
    if (call.endpoint === 'embeddings') {
      const { path, body } = embeddingRequest(call);
      return { base: call.baseUrl, method: 'POST', path, headers, body: JSON.stringify(body) };
    }
    const operation = call.stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
    return {
      base: call.baseUrl,
      method: 'POST',
      path: `/v1beta/${modelPath(call.model)}:${operation}`,
      headers,
      body: JSON.stringify(toGeminiRequest(call.json)),
    };
  },
  translate: {
    answer: (call, json) =>
      call.endpoint === 'embeddings' ? toEmbeddings(json, call) : toChatCompletion(json, call.model),
    error: toOpenAiError,
    stream: (call) => new GeminiStream(call.model, asksForStreamUsage(call.json)),
    requestIdHeader: 'x-goog-request-id',
  },
};
