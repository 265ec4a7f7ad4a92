// The simulator's Gemini API: generateContent and streamGenerateContent (`?alt=sse`) echo the
// last user text, call a function when toolConfig demands one, block a prompt saying BLOCKME
// for safety, think when generationConfig.thinkingConfig asks (thoughtsTokenCount, and a thought
// part with includeThoughts), read a `cachedContent` made by `POST /v1beta/cachedContents`
// (cachedContentTokenCount), and report usage metadata as word counts; countTokens, embedContent
// and batchEmbedContents.
import type { MockAnswer } from './anthropic.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const array = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** `/v1beta/models/{model}:{method}` */
export const GEMINI_PATH =
  /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents)$/;

/** `/v1beta/cachedContents`, where a prompt prefix is cached for later generateContent calls. */
export const GEMINI_CACHE_PATH = '/v1beta/cachedContents';

/** The cached contents this mock instance made, by name (`cachedContents/…`), with their token counts. */
export type GeminiCaches = Map<string, { model: string; tokens: number }>;

export function geminiError(status: number, statusName: string, message: string): MockAnswer {
  return { status, json: { error: { code: status, message, status: statusName } } };
}

function partsText(parts: unknown): string {
  return array(parts)
    .map((part) => {
      if (!isObject(part)) return '';
      if (typeof part.text === 'string') return part.text;
      if (isObject(part.functionResponse)) {
        const response = part.functionResponse.response;
        return `tool result: ${isObject(response) && typeof response.content === 'string' ? response.content : JSON.stringify(response)}`;
      }
      return '';
    })
    .filter((t) => t !== '')
    .join(' ');
}

function calledFunction(params: Json): string | null {
  const config = isObject(params.toolConfig) ? params.toolConfig.functionCallingConfig : undefined;
  if (!isObject(config) || config.mode !== 'ANY') return null;
  const allowed = array(config.allowedFunctionNames)[0];
  if (typeof allowed === 'string') return allowed;
  const declarations = array(
    array(params.tools).flatMap((tool) => (isObject(tool) ? array(tool.functionDeclarations) : [])),
  );
  const first = declarations[0];
  return isObject(first) && typeof first.name === 'string' ? first.name : null;
}

/** A deterministic vector per text, as the OpenAI-side mock makes them. */
function vector(text: string): number[] {
  const values: number[] = [];
  for (let i = 0; i < 8; i++) values.push(((text.charCodeAt(i % Math.max(1, text.length)) || 0) % 97) / 97);
  return values;
}

export function geminiApi(
  model: string,
  method: string,
  params: Json,
  apiKey: string | undefined,
  seq: number,
  words: (text: string) => number,
  pieces: (text: string) => string[],
  caches: GeminiCaches = new Map(),
): MockAnswer {
  if (!apiKey)
    return geminiError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers. Please use an API key.");
  if (method === 'embedContent') {
    const content = isObject(params.content) ? params.content : {};
    return { status: 200, json: { embedding: { values: vector(partsText(content.parts)) } } };
  }
  if (method === 'batchEmbedContents') {
    const requests = array(params.requests).filter(isObject);
    return {
      status: 200,
      json: {
        embeddings: requests.map((r) => ({ values: vector(partsText(isObject(r.content) ? r.content.parts : [])) })),
      },
    };
  }
  if (method === 'countTokens') {
    // The SDK sends `contents`; a full request can come as `generateContentRequest` too.
    const request = isObject(params.generateContentRequest) ? params.generateContentRequest : params;
    return { status: 200, json: { totalTokens: promptOf(request, words).tokens } };
  }
  const contents = array(params.contents).filter(isObject);
  if (contents.length === 0)
    return geminiError(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
  const prompt = promptOf(params, words);
  const lastUser = prompt.lastUser;
  let promptTokens = prompt.tokens;
  // A cached prefix counts in promptTokenCount, as Gemini reports it, and again in cachedContentTokenCount.
  let cachedTokens = 0;
  if (typeof params.cachedContent === 'string') {
    const cached = caches.get(params.cachedContent);
    if (!cached) return geminiError(403, 'PERMISSION_DENIED', `CachedContent not found (or permission denied)`);
    cachedTokens = cached.tokens;
    promptTokens += cachedTokens;
  }
  const generation = isObject(params.generationConfig) ? params.generationConfig : {};
  const thinkingConfig = isObject(generation.thinkingConfig) ? generation.thinkingConfig : null;
  const thinks = thinkingConfig !== null && thinkingConfig.thinkingBudget !== 0;
  const thought = `Thinking about: ${lastUser}`;
  const thoughtsTokens = thinks ? words(thought) : 0;
  const thoughtParts = thinks && thinkingConfig?.includeThoughts === true ? [{ text: thought, thought: true }] : [];
  const responseId = `gemini-mock${seq}`;
  if (lastUser.includes('BLOCKME')) {
    const blocked = {
      promptFeedback: { blockReason: 'SAFETY' },
      usageMetadata: { promptTokenCount: promptTokens, totalTokenCount: promptTokens },
      modelVersion: model,
      responseId,
    };
    return method === 'streamGenerateContent'
      ? { status: 200, events: [`data: ${JSON.stringify(blocked)}\r\n\r\n`] }
      : { status: 200, json: blocked };
  }
  const fn = calledFunction(params);
  const answer = `Echo: ${lastUser}`;
  const args = { echo: lastUser };
  const completionTokens = fn ? words(JSON.stringify(args)) : words(answer);
  const usageMetadata = {
    promptTokenCount: promptTokens,
    candidatesTokenCount: completionTokens,
    totalTokenCount: promptTokens + completionTokens + thoughtsTokens,
    ...(cachedTokens > 0 ? { cachedContentTokenCount: cachedTokens } : {}),
    ...(thinks ? { thoughtsTokenCount: thoughtsTokens } : {}),
  };
  const response = (parts: Json[], finishReason: string | undefined, usage: Json | undefined) => ({
    candidates: [{ content: { role: 'model', parts }, ...(finishReason ? { finishReason, index: 0 } : { index: 0 }) }],
    ...(usage ? { usageMetadata: usage } : {}),
    modelVersion: model,
    responseId,
  });
  const finalParts = [...thoughtParts, ...(fn ? [{ functionCall: { name: fn, args } }] : [{ text: answer }])];
  if (method === 'generateContent') return { status: 200, json: response(finalParts, 'STOP', usageMetadata) };
  // Gemini's SSE ends events with CRLF pairs.
  const event = (data: unknown) => `data: ${JSON.stringify(data)}\r\n\r\n`;
  if (fn) return { status: 200, events: [event(response(finalParts, 'STOP', usageMetadata))] };
  const list = pieces(answer);
  const thoughtEvents = thoughtParts.map((part) => event(response([part], undefined, undefined)));
  const events = list.map((text, i) =>
    event(
      response(
        [{ text }],
        i === list.length - 1 ? 'STOP' : undefined,
        i === list.length - 1 ? usageMetadata : undefined,
      ),
    ),
  );
  return { status: 200, events: [...thoughtEvents, ...events] };
}

/** The prompt of a generateContent request: its word count (system instruction included) and last user text. */
function promptOf(params: Json, words: (text: string) => number): { tokens: number; lastUser: string } {
  const system = isObject(params.systemInstruction) ? partsText(params.systemInstruction.parts) : '';
  let tokens = words(system);
  let lastUser = '';
  for (const content of array(params.contents).filter(isObject)) {
    const text = partsText(content.parts);
    tokens += words(text);
    if (content.role === 'user') lastUser = text;
  }
  return { tokens, lastUser };
}

/** `POST /v1beta/cachedContents`: caches the contents and system instruction for `ttl`, answered with its name. */
export function geminiCreateCache(
  params: Json,
  apiKey: string | undefined,
  seq: number,
  words: (text: string) => number,
  caches: GeminiCaches,
): MockAnswer {
  if (!apiKey)
    return geminiError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers. Please use an API key.");
  if (typeof params.model !== 'string' || params.model === '')
    return geminiError(400, 'INVALID_ARGUMENT', '* CreateCachedContentRequest.cached_content.model: model is required');
  const name = `cachedContents/mock${seq}`;
  const tokens = promptOf(params, words).tokens;
  caches.set(name, { model: params.model, tokens });
  const now = new Date();
  return {
    status: 200,
    json: {
      name,
      model: params.model,
      createTime: now.toISOString(),
      updateTime: now.toISOString(),
      expireTime: new Date(now.getTime() + 3_600_000).toISOString(),
      usageMetadata: { totalTokenCount: tokens },
    },
  };
}
