// Amazon Bedrock's Converse and ConverseStream behind OpenAI's chat completions: requests
// signed with SigV4 (@smithy/signature-v4), the binary event stream read with
// @smithy/eventstream-codec and turned into `chat.completion.chunk`s.
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { missingProviderCredentials } from '../../errors.js';
import { asksForStreamUsage, chatUsage, contentText, toolArguments } from '../../wire/chat.js';
import { array, count, isObject, type Json, parseObject, text } from '../../wire/json.js';
import {
  ChatChunks,
  openAiError,
  type ProviderAdapter,
  type ProviderCall,
  type StreamTranslator,
} from '../provider.js';

export const DEFAULT_BEDROCK_REGION = 'us-east-1';

const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

const IMAGE_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp']);

function blocks(content: unknown): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return array(content).flatMap((part): Json[] => {
    if (!isObject(part)) return [];
    if (part.type === 'text') return [{ text: text(part.text) }];
    if (part.type === 'image_url') {
      // Converse takes image bytes only: a data URL's, in one of its formats.
      const url = text(isObject(part.image_url) ? part.image_url.url : part.image_url);
      const data = /^data:image\/([a-z]+);base64,(.*)$/s.exec(url);
      const format = data?.[1] === 'jpg' ? 'jpeg' : data?.[1];
      return data && format && IMAGE_FORMATS.has(format) ? [{ image: { format, source: { bytes: data[2] } } }] : [];
    }
    return [];
  });
}

export function toConverseRequest(json: Json | null): Json {
  const body = json ?? {};
  const system: Json[] = [];
  const messages: Json[] = [];
  const push = (role: string, content: Json[]) => {
    const last = messages.at(-1);
    if (last && last.role === role) (last.content as Json[]).push(...content);
    else messages.push({ role, content });
  };
  for (const message of array(body.messages)) {
    if (!isObject(message)) continue;
    if (message.role === 'system' || message.role === 'developer') system.push({ text: contentText(message.content) });
    else if (message.role === 'assistant') {
      const content = blocks(message.content);
      for (const call of array(message.tool_calls)) {
        if (!isObject(call) || !isObject(call.function)) continue;
        content.push({
          toolUse: {
            toolUseId: text(call.id),
            name: text(call.function.name),
            input: toolArguments(call.function.arguments),
          },
        });
      }
      push('assistant', content);
    } else if (message.role === 'tool') {
      push('user', [
        { toolResult: { toolUseId: text(message.tool_call_id), content: [{ text: contentText(message.content) }] } },
      ]);
    } else push('user', blocks(message.content));
  }
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const stop = body.stop;
  const inferenceConfig: Json = {
    ...(typeof maxTokens === 'number' ? { maxTokens } : {}),
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { topP: body.top_p } : {}),
    ...(stop === undefined || stop === null ? {} : { stopSequences: Array.isArray(stop) ? stop : [stop] }),
  };
  const tools = array(body.tools).flatMap((tool): Json[] =>
    isObject(tool) && isObject(tool.function)
      ? [
          {
            toolSpec: {
              name: text(tool.function.name),
              ...(typeof tool.function.description === 'string' ? { description: tool.function.description } : {}),
              inputSchema: { json: isObject(tool.function.parameters) ? tool.function.parameters : { type: 'object' } },
            },
          },
        ]
      : [],
  );
  const choice = body.tool_choice;
  const toolChoice =
    choice === 'required'
      ? { any: {} }
      : choice === 'auto'
        ? { auto: {} }
        : isObject(choice) && isObject(choice.function)
          ? { tool: { name: text(choice.function.name) } }
          : undefined;
  // Converse has no "none": leaving the tools out is how a client says it.
  const withTools = tools.length > 0 && choice !== 'none';
  return {
    messages,
    ...(system.length > 0 ? { system } : {}),
    ...(Object.keys(inferenceConfig).length > 0 ? { inferenceConfig } : {}),
    ...(withTools ? { toolConfig: { tools, ...(toolChoice ? { toolChoice } : {}) } } : {}),
  };
}

/** Converse usage as OpenAI's: prompt tokens include the cache reads and writes, the writes kept apart (see chatUsage). */
export function openAiUsage(usage: unknown): Json {
  const u = isObject(usage) ? usage : {};
  const cacheRead = count(u.cacheReadInputTokens);
  const cacheWrite = count(u.cacheWriteInputTokens);
  const prompt = count(u.inputTokens) + cacheRead + cacheWrite;
  return chatUsage({ prompt, completion: count(u.outputTokens), cached: cacheRead, cacheWrite });
}

export function toChatCompletion(answer: Json, model: string | null): Json {
  const output = isObject(answer.output) && isObject(answer.output.message) ? answer.output.message : {};
  let content = '';
  const toolCalls: Json[] = [];
  for (const block of array(output.content)) {
    if (!isObject(block)) continue;
    if (typeof block.text === 'string') content += block.text;
    if (isObject(block.toolUse)) {
      toolCalls.push({
        id: text(block.toolUse.toolUseId),
        type: 'function',
        function: { name: text(block.toolUse.name), arguments: JSON.stringify(block.toolUse.input ?? {}) },
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
    id: `chatcmpl-bedrock${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: FINISH_REASONS[text(answer.stopReason)] ?? 'stop', logprobs: null }],
    usage: openAiUsage(answer.usage),
  };
}

export function toOpenAiError(status: number, body: string): Json {
  const json = parseObject(body);
  const message = text(json?.message) || text(json?.Message) || body.slice(0, 500) || `bedrock answered ${status}`;
  return openAiError(status, message);
}

/** ConverseStream's binary messages (each prefixed by its total length) as chat chunks. */
class ConverseStream implements StreamTranslator {
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private buffer: Buffer = Buffer.alloc(0);
  private readonly chunks: ChatChunks;
  private usage: unknown = null;
  /** Converse's content block index → OpenAI's tool call index. */
  private readonly toolIndex = new Map<number, number>();

  constructor(model: string, includeUsage: boolean) {
    this.chunks = new ChatChunks(`chatcmpl-bedrock${Date.now()}`, model, includeUsage);
  }

  push(chunk: Buffer): string {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (this.buffer.length < length) break;
      const message = this.codec.decode(this.buffer.subarray(0, length));
      this.buffer = this.buffer.subarray(length);
      const type = message.headers[':event-type']?.value;
      const kind = message.headers[':message-type']?.value;
      const body = parseObject(toUtf8(message.body)) ?? {};
      if (kind === 'exception') {
        const name = String(message.headers[':exception-type']?.value ?? 'exception');
        this.chunks.event(openAiError(500, `${name}: ${text(body.message) || 'bedrock stream failed'}`));
      } else this.onEvent(String(type), body);
    }
    return this.chunks.take();
  }

  end(): string {
    this.chunks.finish(this.usage ? openAiUsage(this.usage) : null);
    return this.chunks.take();
  }

  private onEvent(type: string, event: Json): void {
    if (type === 'messageStart') this.chunks.delta({ role: 'assistant', content: '' });
    else if (type === 'contentBlockStart') {
      const start = isObject(event.start) && isObject(event.start.toolUse) ? event.start.toolUse : null;
      if (!start) return;
      const index = this.toolIndex.size;
      this.toolIndex.set(Number(event.contentBlockIndex), index);
      this.chunks.delta({
        tool_calls: [
          { index, id: text(start.toolUseId), type: 'function', function: { name: text(start.name), arguments: '' } },
        ],
      });
    } else if (type === 'contentBlockDelta') {
      const delta = isObject(event.delta) ? event.delta : {};
      if (typeof delta.text === 'string') this.chunks.delta({ content: delta.text });
      else if (isObject(delta.toolUse)) {
        const index = this.toolIndex.get(Number(event.contentBlockIndex)) ?? 0;
        this.chunks.delta({ tool_calls: [{ index, function: { arguments: text(delta.toolUse.input) } }] });
      }
    } else if (type === 'messageStop') this.chunks.delta({}, FINISH_REASONS[text(event.stopReason)] ?? 'stop');
    else if (type === 'metadata') this.usage = event.usage;
  }
}

/** The request, signed for the `bedrock` service with the target's AWS credentials. */
async function signedRequest(call: ProviderCall) {
  if (!call.accessKeyId || !call.secretAccessKey) {
    throw missingProviderCredentials('bedrock', "set the upstream's accessKeyId and secretAccessKey");
  }
  const url = new URL(call.baseUrl);
  const region = call.region ?? DEFAULT_BEDROCK_REGION;
  const path = `${url.pathname.replace(/\/+$/, '')}/model/${encodeURIComponent(call.model ?? '')}/${call.stream ? 'converse-stream' : 'converse'}`;
  const body = JSON.stringify(toConverseRequest(call.json));
  const signer = new SignatureV4({
    service: 'bedrock',
    region,
    credentials: { accessKeyId: call.accessKeyId, secretAccessKey: call.secretAccessKey },
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    path,
    query: {},
    headers: { host: url.host, 'content-type': 'application/json', accept: 'application/json' },
    body,
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') headers[name] = String(value);
  return { base: url.origin, method: 'POST', path, headers, body };
}

export const bedrock: ProviderAdapter = {
  name: 'bedrock',
  defaultBaseUrl: (call) => `https://bedrock-runtime.${call.region ?? DEFAULT_BEDROCK_REGION}.amazonaws.com`,
  serves: (endpoint) => endpoint === 'chat.completions',
  needsApiKey: false,
  request: signedRequest,
  translate: {
    answer: (call, json) => toChatCompletion(json, call.model),
    error: toOpenAiError,
    stream: (call) => new ConverseStream(call.model ?? '', asksForStreamUsage(call.json)),
    requestIdHeader: 'x-amzn-requestid',
  },
};
