// An OpenAI-compatible upstream simulator on plain node:http, for the gateway's tests, benchmarks and demos.
//
// Every route answers at once from the request alone (echoes, word counts, deterministic bytes), so a benchmark
// measures the gateway and not the mock. Faults are chosen per request by `x-mock-*` headers, which keeps one
// shared instance usable by tests that run side by side.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import busboy from 'busboy';
import {
  anthropicCountTokens,
  anthropicMessages,
  anthropicModels,
  type MockAnswer,
  type PromptCache,
} from './anthropic.js';
import { BEDROCK_PATH, bedrockConverse } from './bedrock.js';
import { GEMINI_CACHE_PATH, GEMINI_PATH, type GeminiCaches, geminiApi, geminiCreateCache } from './gemini.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: Buffer;
  json?: unknown;
  fields?: Record<string, string>;
}

export interface MockUpstream {
  /** e.g. 'http://127.0.0.1:PORT/v1' */
  url: string;
  port: number;
  /** The last 200 requests, oldest first. */
  requests: ReceivedRequest[];
  /** Clears the recorded requests and the fail-times counters. */
  reset(): void;
  close(): Promise<void>;
}

const MAX_RECORDED = 200;
const MODEL_CREATED = 1_700_000_000;
const MODEL_IDS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'o4-mini',
  'text-embedding-3-small',
  'omni-moderation-latest',
  'whisper-1',
  'tts-1',
  'dall-e-3',
];
const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
];
const FLAGGED_CATEGORIES = new Set(['harassment', 'violence']);

// Answers that never change are built once, so the hot path only copies bytes.
const MODELS = MODEL_IDS.map((id) => ({ id, object: 'model', created: MODEL_CREATED, owned_by: 'mock' }));
const MODEL_LIST_JSON = JSON.stringify({ object: 'list', data: MODELS });
const MODEL_JSON = new Map(MODELS.map((m) => [m.id, JSON.stringify(m)]));
/** A 1×1 transparent PNG. */
const TINY_PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const TINY_PNG = Buffer.from(TINY_PNG_B64, 'base64');
/** 1024 deterministic bytes behind an MPEG audio frame sync, enough for clients that sniff the format. */
const SPEECH_BYTES = Buffer.alloc(1024, 0);
SPEECH_BYTES.set([0xff, 0xfb, 0x90, 0x64]);
for (let i = 4; i < SPEECH_BYTES.length; i++) SPEECH_BYTES[i] = (i * 31) & 0xff;

interface UploadedFile {
  field: string;
  filename: string;
  bytes: Buffer;
}

/** A file uploaded to `/files`, kept in memory by the mock instance. */
interface StoredFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  content: Buffer;
}

/** One request as the route handlers see it. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  seq: number;
  started: number;
  /** The path without query string and without the /v1 prefix. */
  route: string;
  /** The JSON object body, or the multipart text fields; empty when neither. */
  params: Record<string, unknown>;
  files: UploadedFile[];
  noUsage: boolean;
  baseUrl: string;
  /** This mock instance's uploaded files, by id. */
  storedFiles: Map<string, StoredFile>;
  /** This mock instance's Anthropic prompt cache (the prefixes at cache_control breakpoints it has seen). */
  promptCache: PromptCache;
  /** This mock instance's Gemini cached contents, by name. */
  geminiCaches: GeminiCaches;
}

type Handler = (ex: Exchange) => void | Promise<void>;

interface ParsedBody {
  json?: unknown;
  jsonInvalid: boolean;
  fields?: Record<string, string>;
  files: UploadedFile[];
}

export async function startMockUpstream(options: { port?: number; host?: string } = {}): Promise<MockUpstream> {
  const host = options.host ?? '127.0.0.1';
  const requests: ReceivedRequest[] = [];
  const failCounts = new Map<string, number>();
  const storedFiles = new Map<string, StoredFile>();
  const promptCache: PromptCache = new Set();
  const geminiCaches: GeminiCaches = new Map();
  const sockets = new Set<Socket>();
  let seq = 0;
  let baseUrl = '';

  const reset = () => {
    requests.length = 0;
    failCounts.clear();
  };

  const server = createServer((req, res) => {
    seq++;
    handle(req, res, seq).catch((err: unknown) => {
      // A bug in the mock must still answer something the SDK understands.
      if (!res.headersSent) sendError(res, seq, Date.now(), 500, `mock internal error: ${String(err)}`, 'server_error');
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse, n: number): Promise<void> {
    const started = Date.now();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const route = path === '/v1' ? '/' : path.startsWith('/v1/') ? path.slice(3) : path;
    const method = req.method ?? 'GET';

    const body = await readBody(req);
    if (route === '/__mock/requests') return answerInspection(res, n, started, method, requests, reset);
    if (route === '/__mock/image.png') return sendBytes(res, n, started, 200, 'image/png', TINY_PNG);

    const parsed = await parseBody(req, body);
    const received: ReceivedRequest = {
      method,
      path,
      query: q === -1 ? {} : Object.fromEntries(new URLSearchParams(rawUrl.slice(q + 1))),
      headers: headerRecord(req.rawHeaders),
      body,
    };
    if (parsed.json !== undefined) received.json = parsed.json;
    if (parsed.fields) received.fields = parsed.fields;
    requests.push(received);
    if (requests.length > MAX_RECORDED) requests.shift();

    // Headers a real upstream adds to its answers (OpenAI's CDN sets cookies, for one), as a JSON object.
    const answerHeaders = parseAnswerHeaders(header(req, 'x-mock-answer-headers'));
    for (const [name, value] of Object.entries(answerHeaders)) res.setHeader(name, value);
    // A base URL under `/__mock/status/NNN` answers NNN to everything: a target that is down, for routing tests.
    const forced = /^\/__mock\/status\/(\d{3})(\/|$)/.exec(path);
    if (forced) {
      const status = Number(forced[1]);
      return sendError(res, n, started, status, `mock error ${status}`, errorType(status));
    }
    if (await applyFaults(req, res, n, started, failCounts)) return;

    const handler = findRoute(method, route);
    if (!handler)
      return sendError(res, n, started, 404, `Unknown request URL: ${method} ${path}`, 'invalid_request_error');
    if (parsed.jsonInvalid) {
      return sendError(
        res,
        n,
        started,
        400,
        'We could not parse the JSON body of your request.',
        'invalid_request_error',
      );
    }
    if (parsed.json !== undefined && !isObject(parsed.json)) {
      return sendError(res, n, started, 400, 'The request body must be a JSON object.', 'invalid_request_error');
    }
    const params = isObject(parsed.json) ? parsed.json : (parsed.fields ?? {});
    // Only a stream can break in the middle; any other answer breaks before it starts.
    if (header(req, 'x-mock-fault') === 'disconnect-mid-stream' && params.stream !== true) {
      req.socket.destroy();
      return;
    }
    if (header(req, 'x-mock-refuse-stream-options') === 'true' && params.stream_options !== undefined) {
      // As some OpenAI-compatible servers answer a parameter they do not know.
      return sendError(
        res,
        n,
        started,
        400,
        'Unrecognized request argument supplied: stream_options',
        'invalid_request_error',
      );
    }
    const noUsage = header(req, 'x-mock-no-usage') === 'true';
    await handler({
      req,
      res,
      seq: n,
      started,
      route,
      params,
      files: parsed.files,
      noUsage,
      baseUrl,
      storedFiles,
      promptCache,
      geminiCaches,
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  baseUrl = `http://${urlHost}:${port}`;

  return {
    url: `${baseUrl}/v1`,
    port,
    requests,
    reset,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hanging requests and idle keep-alive connections would otherwise hold close() open.
        for (const socket of sockets) socket.destroy();
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

const routes = new Map<string, Handler>([
  ['POST /chat/completions', chatCompletions],
  ['POST /completions', completions],
  ['POST /embeddings', embeddings],
  ['POST /moderations', moderations],
  ['POST /images/generations', images(true)],
  ['POST /images/edits', images(true)],
  ['POST /images/variations', images(false)],
  ['POST /audio/transcriptions', transcription],
  ['POST /audio/translations', transcription],
  ['POST /audio/speech', speech],
  ['POST /responses', responses],
  ['GET /models', listModels],
  ['POST /files', uploadFile],
  ['GET /files', listFiles],
  // Anthropic's Messages API, at its own path (`/v1/messages`).
  ['POST /messages', messages],
  ['POST /messages/count_tokens', countTokens],
  [`POST ${GEMINI_CACHE_PATH}`, geminiCache],
]);

const FILE_PATH = /^\/files\/([^/]+)(\/content)?$/;

function uploadFile(ex: Exchange) {
  const upload = ex.files.find((f) => f.field === 'file');
  if (!upload) return missingParam(ex, 'file');
  const purpose = typeof ex.params.purpose === 'string' ? ex.params.purpose : '';
  if (purpose === '') return missingParam(ex, 'purpose');
  const file: StoredFile = {
    id: `file-mock${ex.seq}`,
    object: 'file',
    bytes: upload.bytes.length,
    created_at: nowSeconds(),
    filename: upload.filename,
    purpose,
    status: 'processed',
    content: upload.bytes,
  };
  ex.storedFiles.set(file.id, file);
  sendJson(ex.res, ex.seq, ex.started, 200, publicFile(file));
}

function publicFile({ content: _content, ...file }: StoredFile) {
  return file;
}

function listFiles(ex: Exchange): void {
  const data = [...ex.storedFiles.values()].map(publicFile);
  sendJson(ex.res, ex.seq, ex.started, 200, { object: 'list', data, has_more: false });
}

/** GET /files/{id}, GET /files/{id}/content, DELETE /files/{id}. */
function fileById(ex: Exchange) {
  const [, id = '', content] = FILE_PATH.exec(ex.route) ?? [];
  const file = ex.storedFiles.get(id);
  if (!file)
    return sendError(ex.res, ex.seq, ex.started, 404, `No such File object: ${id}`, 'invalid_request_error', 'id');
  if (ex.req.method === 'DELETE') {
    if (content)
      return sendError(
        ex.res,
        ex.seq,
        ex.started,
        404,
        `Unknown request URL: DELETE ${ex.route}`,
        'invalid_request_error',
      );
    ex.storedFiles.delete(id);
    return sendJson(ex.res, ex.seq, ex.started, 200, { id, object: 'file', deleted: true });
  }
  if (content) return sendBytes(ex.res, ex.seq, ex.started, 200, 'application/octet-stream', file.content);
  sendJson(ex.res, ex.seq, ex.started, 200, publicFile(file));
}

/** Azure OpenAI: `/openai/deployments/{deployment}/{operation}?api-version=` with an `api-key` header. */
const AZURE_PATH = /^\/openai\/deployments\/([^/]+)(\/.+)$/;

function azure(ex: Exchange): void | Promise<void> {
  const [, deployment = '', operation = ''] = AZURE_PATH.exec(ex.route) ?? [];
  const handler = routes.get(`${ex.req.method} ${operation}`);
  if (!handler) return sendError(ex.res, ex.seq, ex.started, 404, 'Resource not found', 'invalid_request_error');
  if (!header(ex.req, 'api-key')) {
    return sendError(
      ex.res,
      ex.seq,
      ex.started,
      401,
      'Access denied due to missing api-key header.',
      'invalid_request_error',
    );
  }
  if (!new URL(ex.req.url ?? '/', 'http://mock').searchParams.get('api-version')) {
    return sendError(ex.res, ex.seq, ex.started, 404, 'Resource not found', 'invalid_request_error');
  }
  // A deployment answers with its model whatever the body says; the mock's deployment is named after it.
  return handler({ ...ex, route: operation, params: { ...ex.params, model: deployment } });
}

function messages(ex: Exchange): void | Promise<void> {
  return sendMockAnswer(
    ex,
    anthropicMessages(ex.params, ex.req.headers, ex.seq, countWords, (text) => streamPieces(text), ex.promptCache),
  );
}

function countTokens(ex: Exchange): void | Promise<void> {
  return sendMockAnswer(ex, anthropicCountTokens(ex.params, ex.req.headers, countWords));
}

const geminiKey = (ex: Exchange) =>
  header(ex.req, 'x-goog-api-key') ?? new URL(ex.req.url ?? '/', 'http://mock').searchParams.get('key') ?? undefined;

function gemini(ex: Exchange): void | Promise<void> {
  const [, model = '', method = ''] = GEMINI_PATH.exec(ex.route) ?? [];
  return sendMockAnswer(
    ex,
    geminiApi(
      model,
      method,
      ex.params,
      geminiKey(ex),
      ex.seq,
      countWords,
      (text) => streamPieces(text),
      ex.geminiCaches,
    ),
  );
}

function geminiCache(ex: Exchange): void | Promise<void> {
  return sendMockAnswer(ex, geminiCreateCache(ex.params, geminiKey(ex), ex.seq, countWords, ex.geminiCaches));
}

async function bedrock(ex: Exchange): Promise<void> {
  const [, , operation = ''] = BEDROCK_PATH.exec(ex.route) ?? [];
  const answer = bedrockConverse(operation, ex.params, ex.req.headers, countWords, (text) => streamPieces(text));
  if ('frames' in answer) {
    ex.res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-requestid': `bedrock-mock-${ex.seq}`,
    });
    for (const frame of answer.frames) if (!ex.res.write(frame)) await drained(ex.res);
    ex.res.end();
    return;
  }
  const body = JSON.stringify(answer.json);
  ex.res
    .writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-amzn-requestid': `bedrock-mock-${ex.seq}`,
      ...(answer.errorType ? { 'x-amzn-errortype': answer.errorType } : {}),
    })
    .end(body);
}

function sendMockAnswer(ex: Exchange, answer: MockAnswer): void | Promise<void> {
  if ('events' in answer) return sendStream(ex, answer.events);
  sendJson(ex.res, ex.seq, ex.started, answer.status, answer.json);
}

function findRoute(method: string, route: string): Handler | undefined {
  const handler = routes.get(`${method} ${route}`);
  if (handler) return handler;
  if (method === 'GET' && route.startsWith('/models/')) return getModel;
  if (AZURE_PATH.test(route)) return azure;
  if ((method === 'GET' || method === 'DELETE') && FILE_PATH.test(route)) return fileById;
  if (method === 'POST' && GEMINI_PATH.test(route)) return gemini;
  if (method === 'POST' && BEDROCK_PATH.test(route)) return bedrock;
  return undefined;
}

/** Returns true when a fault took over the request. */
async function applyFaults(
  req: IncomingMessage,
  res: ServerResponse,
  n: number,
  started: number,
  failCounts: Map<string, number>,
): Promise<boolean> {
  const fault = header(req, 'x-mock-fault');
  if (fault === 'reset') {
    req.socket.destroy();
    return true;
  }
  // Never answered: the socket stays open until the client leaves or close() destroys it.
  if (fault === 'hang') return true;
  // Headers and the start of a JSON answer, then the connection drops.
  if (fault === 'reset-mid-json') {
    const start = '{"id":"chatcmpl-mock","object":"chat.completion","choices":[';
    res.writeHead(200, { ...baseHeaders(n, started, 'application/json'), 'content-length': '1000' });
    res.write(start, () => setImmediate(() => req.socket.destroy()));
    return true;
  }
  const jsonBytes = intHeader(req, 'x-mock-json-bytes');
  if (jsonBytes !== undefined) {
    await sendPaddedJson(res, n, started, jsonBytes, header(req, 'x-mock-chunked') === 'true');
    return true;
  }

  const latency = intHeader(req, 'x-mock-latency-ms');
  if (latency !== undefined && latency > 0) {
    await pause(latency, res);
    if (res.destroyed) return true;
  }

  const status = intHeader(req, 'x-mock-status');
  if (status === undefined || status < 100 || status > 599 || status === 200) return false;
  const failTimes = intHeader(req, 'x-mock-fail-times');
  if (failTimes !== undefined) {
    const key = header(req, 'x-mock-fail-key') ?? '';
    const failed = failCounts.get(key) ?? 0;
    if (failed >= failTimes) return false;
    failCounts.set(key, failed + 1);
  }
  const retryAfter = header(req, 'x-mock-retry-after');
  const extra = retryAfter === undefined ? undefined : { 'retry-after': retryAfter };
  sendError(res, n, started, status, `mock error ${status}`, errorType(status), null, null, extra);
  return true;
}

/**
 * A JSON object of exactly `bytes` bytes (at least its frame), written in pieces as they
 * drain; with `chunked`, without a content-length, as a server that streams a big answer.
 */
async function sendPaddedJson(
  res: ServerResponse,
  n: number,
  started: number,
  bytes: number,
  chunked: boolean,
): Promise<void> {
  const head = '{"object":"mock.padding","padding":"';
  const tail = '"}';
  const padding = Math.max(0, bytes - head.length - tail.length);
  const headers = baseHeaders(n, started, 'application/json');
  if (!chunked) headers['content-length'] = String(head.length + padding + tail.length);
  res.writeHead(200, headers);
  res.write(head);
  const piece = 'a'.repeat(64 * 1024);
  for (let left = padding; left > 0 && !res.destroyed; left -= piece.length) {
    if (!res.write(left >= piece.length ? piece : piece.slice(0, left))) await drained(res);
  }
  if (!res.destroyed) res.end(tail);
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function answerInspection(
  res: ServerResponse,
  n: number,
  started: number,
  method: string,
  requests: ReceivedRequest[],
  reset: () => void,
) {
  if (method === 'DELETE') {
    reset();
    return sendJson(res, n, started, 200, { deleted: true });
  }
  if (method !== 'GET') return sendError(res, n, started, 405, `Method ${method} not allowed`, 'invalid_request_error');
  sendJson(
    res,
    n,
    started,
    200,
    requests.map((r) => ({ ...r, body: r.body.toString('utf8') })),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Text endpoints

function chatCompletions(ex: Exchange): void | Promise<void> {
  const { params } = ex;
  const model = params.model;
  if (typeof model !== 'string' || model === '') return missingParam(ex, 'model');
  const messages = params.messages;
  if (!Array.isArray(messages)) return missingParam(ex, 'messages', `'messages' must be an array`);

  let promptTokens = 0;
  let lastUser = '';
  for (const message of messages) {
    if (!isObject(message)) continue;
    const text = contentText(message.content);
    promptTokens += countWords(text);
    if (message.role === 'user') lastUser = text;
  }
  const answer = header(ex.req, 'x-mock-reply') ?? `Echo: ${lastUser}`;
  const choices = clampInt(params.n, 1, 128, 1);
  const created = nowSeconds();
  const id = `chatcmpl-mock${ex.seq}`;

  if (params.stream === true) {
    const pieces = streamPieces(answer, intHeader(ex.req, 'x-mock-chunks'));
    const usage = wantsStreamUsage(ex) ? tokenUsage(promptTokens, countWords(pieces.join('')) * choices) : undefined;
    return streamChat(ex, { id, created, model, choices, pieces, usage });
  }

  const body: Record<string, unknown> = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: Array.from({ length: choices }, (_, index) => ({
      index,
      message: { role: 'assistant', content: answer, refusal: null },
      finish_reason: 'stop',
      logprobs: null,
    })),
    system_fingerprint: 'fp_mock',
  };
  if (!ex.noUsage) body.usage = tokenUsage(promptTokens, countWords(answer) * choices);
  sendJson(ex.res, ex.seq, ex.started, 200, body);
}

interface ChatStream {
  id: string;
  created: number;
  model: string;
  choices: number;
  pieces: string[];
  usage?: ReturnType<typeof tokenUsage>;
}

function streamChat(ex: Exchange, s: ChatStream): Promise<void> {
  const head = `{"id":${JSON.stringify(s.id)},"object":"chat.completion.chunk","created":${s.created},"model":${JSON.stringify(s.model)},"system_fingerprint":"fp_mock","choices":`;
  const event = (choices: unknown[], usage?: unknown) =>
    `data: ${head}${JSON.stringify(choices)}${usage ? `,"usage":${JSON.stringify(usage)}` : ''}}\n\n`;
  const events: string[] = [];
  for (let index = 0; index < s.choices; index++) {
    events.push(event([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    // Content chunks are the bulk of a long stream: build them by concatenation rather than JSON.stringify.
    const open = `data: ${head}[{"index":${index},"delta":{"content":`;
    for (const piece of s.pieces)
      events.push(`${open}${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}]}\n\n`);
    events.push(event([{ index, delta: {}, logprobs: null, finish_reason: 'stop' }]));
  }
  if (s.usage) events.push(event([], s.usage));
  events.push('data: [DONE]\n\n');
  return sendStream(ex, events);
}

function completions(ex: Exchange): void | Promise<void> {
  const { params } = ex;
  const model = params.model;
  if (typeof model !== 'string' || model === '') return missingParam(ex, 'model');
  const prompt = Array.isArray(params.prompt) ? params.prompt.at(-1) : params.prompt;
  const promptText = typeof prompt === 'string' ? prompt : '';
  const answer = header(ex.req, 'x-mock-reply') ?? `Echo: ${promptText}`;
  const promptTokens = countWords(promptText);
  const choices = clampInt(params.n, 1, 128, 1);
  const id = `cmpl-mock${ex.seq}`;
  const created = nowSeconds();
  const choice = (index: number, text: string, finish: string | null) => ({
    text,
    index,
    logprobs: null,
    finish_reason: finish,
  });
  const chunk = (choiceList: unknown[], usage?: unknown) =>
    `data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: choiceList, ...(usage ? { usage } : {}) })}\n\n`;

  if (params.stream === true) {
    const pieces = streamPieces(answer, intHeader(ex.req, 'x-mock-chunks'));
    const events: string[] = [];
    for (let index = 0; index < choices; index++) {
      for (const piece of pieces) events.push(chunk([choice(index, piece, null)]));
      events.push(chunk([choice(index, '', 'stop')]));
    }
    if (wantsStreamUsage(ex)) events.push(chunk([], tokenUsage(promptTokens, countWords(pieces.join('')) * choices)));
    events.push('data: [DONE]\n\n');
    return sendStream(ex, events);
  }

  const body: Record<string, unknown> = {
    id,
    object: 'text_completion',
    created,
    model,
    choices: Array.from({ length: choices }, (_, index) => choice(index, answer, 'stop')),
  };
  if (!ex.noUsage) body.usage = tokenUsage(promptTokens, countWords(answer) * choices);
  sendJson(ex.res, ex.seq, ex.started, 200, body);
}

/** The function or custom tool a Responses answer calls: the one tool_choice names, the first for `required`. */
function responsesToolCall(params: Record<string, unknown>): { name: string; custom: boolean } | null {
  const tools = Array.isArray(params.tools) ? params.tools.filter(isObject) : [];
  const callable = tools.filter((t) => (t.type === 'function' || t.type === 'custom') && typeof t.name === 'string');
  const choice = params.tool_choice;
  let tool: Record<string, unknown> | undefined;
  if (choice === 'required') tool = callable[0];
  else if (isObject(choice) && (choice.type === 'function' || choice.type === 'custom')) {
    tool = callable.find((t) => t.name === choice.name);
  }
  return tool ? { name: String(tool.name), custom: tool.type === 'custom' } : null;
}

/** A tool's output as the mock reads it back: a string, or the text parts of a list. */
const toolOutputText = (output: unknown) =>
  typeof output === 'string' ? output : contentText(output) || JSON.stringify(output);

function responses(ex: Exchange): void | Promise<void> {
  const { params } = ex;
  const model = params.model;
  if (typeof model !== 'string' || model === '') return missingParam(ex, 'model');
  const input = params.input;
  let inputTokens = 0;
  let lastUser = '';
  // A tool's output as the last input item is answered in words: that is how an agent's run ends.
  let answersToolOutput = false;
  if (typeof input === 'string') {
    inputTokens = countWords(input);
    lastUser = input;
  } else if (Array.isArray(input)) {
    for (const item of input) {
      if (!isObject(item)) continue;
      answersToolOutput = item.type === 'function_call_output' || item.type === 'custom_tool_call_output';
      if (answersToolOutput) {
        lastUser = `tool result: ${toolOutputText(item.output)}`;
        inputTokens += countWords(lastUser);
        continue;
      }
      const text = contentText(item.content);
      inputTokens += countWords(text);
      if (item.role === 'user') lastUser = text;
    }
  } else {
    return missingParam(ex, 'input');
  }
  if (typeof params.instructions === 'string') inputTokens += countWords(params.instructions);

  const answer = header(ex.req, 'x-mock-reply') ?? `Echo: ${lastUser}`;
  const id = `resp_mock${ex.seq}`;
  const itemId = `msg_mock${ex.seq}`;
  const call = answersToolOutput ? null : responsesToolCall(params);
  const callArguments = JSON.stringify({ echo: lastUser });
  const callItem = (status: string, done: boolean) =>
    call?.custom
      ? {
          type: 'custom_tool_call',
          id: `ctc_mock${ex.seq}`,
          call_id: `call_mock${ex.seq}`,
          name: call.name,
          input: done ? lastUser : '',
          status,
        }
      : {
          type: 'function_call',
          id: `fc_mock${ex.seq}`,
          call_id: `call_mock${ex.seq}`,
          name: call?.name,
          arguments: done ? callArguments : '',
          status,
        };
  // A request with `reasoning` gets a reasoning item first (its summary when one is asked for, its
  // encrypted content when `include` asks for it, as Codex's stateless `store: false` turns do).
  const reasoningParams = isObject(params.reasoning) ? params.reasoning : null;
  const thought = `Thinking about: ${lastUser}`;
  const reasoningTokens = reasoningParams ? countWords(thought) : 0;
  const summary = reasoningParams && typeof reasoningParams.summary === 'string' && reasoningParams.summary !== 'none';
  const encrypted =
    Array.isArray(params.include) && params.include.includes('reasoning.encrypted_content')
      ? { encrypted_content: Buffer.from(`mock-reasoning-${ex.seq}`).toString('base64') }
      : {};
  const reasoningItem = (done: boolean) => ({
    type: 'reasoning',
    id: `rs_mock${ex.seq}`,
    summary: summary && done ? [{ type: 'summary_text', text: thought }] : [],
    ...encrypted,
  });
  const message = (status: string, text: string) => ({
    type: 'message',
    id: itemId,
    role: 'assistant',
    status,
    content: [{ type: 'output_text', text, annotations: [] }],
  });
  const usage = (outputTokens: number) => ({
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens + reasoningTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: inputTokens + outputTokens + reasoningTokens,
  });
  const answerTokens = (text: string) => (call ? countWords(call.custom ? lastUser : callArguments) : countWords(text));
  const output = (text: string) => [
    ...(reasoningParams ? [reasoningItem(true)] : []),
    call ? callItem('completed', true) : message('completed', text),
  ];
  // `usage` undefined leaves the key out (x-mock-no-usage); null is what an unfinished response carries.
  const response = (status: string, output: unknown[], usage: object | null | undefined) => ({
    id,
    object: 'response',
    created_at: nowSeconds(),
    status,
    error: null,
    incomplete_details: null,
    instructions: typeof params.instructions === 'string' ? params.instructions : null,
    metadata: {},
    model,
    output,
    parallel_tool_calls: true,
    temperature: 1,
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    ...(usage === undefined ? {} : { usage }),
  });

  if (params.stream === true) {
    const pieces = streamPieces(answer, intHeader(ex.req, 'x-mock-chunks'));
    const streamed = pieces.join('');
    let sequence = 0;
    const event = (data: Record<string, unknown>) =>
      `event: ${String(data.type)}\ndata: ${JSON.stringify({ ...data, sequence_number: sequence++ })}\n\n`;
    // The whole event sequence the SDKs' responses.stream() helpers expect.
    const part = (text: string) => ({ type: 'output_text', text, annotations: [] });
    const events = [
      event({ type: 'response.created', response: response('in_progress', [], null) }),
      event({ type: 'response.in_progress', response: response('in_progress', [], null) }),
    ];
    let outputIndex = 0;
    if (reasoningParams) {
      const at = { item_id: `rs_mock${ex.seq}`, output_index: outputIndex, summary_index: 0 };
      events.push(event({ type: 'response.output_item.added', output_index: outputIndex, item: reasoningItem(false) }));
      if (summary) {
        events.push(
          event({ type: 'response.reasoning_summary_part.added', ...at, part: { type: 'summary_text', text: '' } }),
        );
        events.push(event({ type: 'response.reasoning_summary_text.delta', ...at, delta: thought }));
        events.push(event({ type: 'response.reasoning_summary_text.done', ...at, text: thought }));
        events.push(
          event({ type: 'response.reasoning_summary_part.done', ...at, part: { type: 'summary_text', text: thought } }),
        );
      }
      events.push(event({ type: 'response.output_item.done', output_index: outputIndex, item: reasoningItem(true) }));
      outputIndex++;
    }
    if (call) {
      const item = callItem('in_progress', false);
      const at = { item_id: item.id, output_index: outputIndex };
      events.push(event({ type: 'response.output_item.added', output_index: outputIndex, item }));
      if (call.custom) {
        events.push(event({ type: 'response.custom_tool_call_input.delta', ...at, delta: lastUser }));
        events.push(event({ type: 'response.custom_tool_call_input.done', ...at, input: lastUser }));
      } else {
        events.push(event({ type: 'response.function_call_arguments.delta', ...at, delta: callArguments }));
        events.push(event({ type: 'response.function_call_arguments.done', ...at, arguments: callArguments }));
      }
      events.push(
        event({ type: 'response.output_item.done', output_index: outputIndex, item: callItem('completed', true) }),
      );
    } else {
      const at = { item_id: itemId, output_index: outputIndex, content_index: 0 };
      events.push(
        event({
          type: 'response.output_item.added',
          output_index: outputIndex,
          item: { ...message('in_progress', ''), content: [] },
        }),
      );
      events.push(event({ type: 'response.content_part.added', ...at, part: part('') }));
      for (const delta of pieces) events.push(event({ type: 'response.output_text.delta', ...at, delta }));
      events.push(event({ type: 'response.output_text.done', ...at, text: streamed }));
      events.push(event({ type: 'response.content_part.done', ...at, part: part(streamed) }));
      events.push(
        event({ type: 'response.output_item.done', output_index: outputIndex, item: message('completed', streamed) }),
      );
    }
    const done = response('completed', output(streamed), ex.noUsage ? undefined : usage(answerTokens(streamed)));
    events.push(event({ type: 'response.completed', response: done }));
    return sendStream(ex, events);
  }

  const body = response('completed', output(answer), ex.noUsage ? undefined : usage(answerTokens(answer)));
  sendJson(ex.res, ex.seq, ex.started, 200, body);
}

// ---------------------------------------------------------------------------------------------------------------
// Embeddings, moderations, images, audio, models

function embeddings(ex: Exchange) {
  const { params } = ex;
  const model = params.model;
  if (typeof model !== 'string' || model === '') return missingParam(ex, 'model');
  const inputs = inputTexts(params.input);
  if (!inputs) return missingParam(ex, 'input');
  const base64 = params.encoding_format === 'base64';
  let tokens = 0;
  const data = inputs.map((text, index) => {
    tokens += countWords(text);
    const bytes = embeddingOf(text);
    const embedding = base64 ? bytes.toString('base64') : Array.from({ length: 8 }, (_, i) => bytes.readFloatLE(i * 4));
    return { object: 'embedding', index, embedding };
  });
  const body: Record<string, unknown> = { object: 'list', data, model };
  if (!ex.noUsage) body.usage = { prompt_tokens: tokens, total_tokens: tokens };
  sendJson(ex.res, ex.seq, ex.started, 200, body);
}

/** Eight float32s in [-1, 1) seeded by an FNV-1a hash of the text, as little-endian bytes like OpenAI's base64. */
function embeddingOf(text: string): Buffer {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  const bytes = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ (i + 1);
    bytes.writeFloatLE(((h >>> 0) / 0x1_0000_0000) * 2 - 1, i * 4);
  }
  return bytes;
}

function moderations(ex: Exchange) {
  const inputs = inputTexts(ex.params.input);
  if (!inputs) return missingParam(ex, 'input');
  const model = typeof ex.params.model === 'string' ? ex.params.model : 'omni-moderation-latest';
  const results = inputs.map((text) => {
    const flagged = text.toLowerCase().includes('mockflag');
    const categories: Record<string, boolean> = {};
    const scores: Record<string, number> = {};
    const applied: Record<string, string[]> = {};
    for (const name of MODERATION_CATEGORIES) {
      const hit = flagged && FLAGGED_CATEGORIES.has(name);
      categories[name] = hit;
      scores[name] = hit ? 0.9 : 0.0001;
      applied[name] = ['text'];
    }
    return { flagged, categories, category_scores: scores, category_applied_input_types: applied };
  });
  sendJson(ex.res, ex.seq, ex.started, 200, { id: `modr-mock${ex.seq}`, model, results });
}

/** Generations take JSON, edits and variations multipart; all answer the same tiny PNG. */
function images(needsPrompt: boolean): Handler {
  return (ex) => {
    const { params } = ex;
    if (needsPrompt && typeof params.prompt !== 'string') return missingParam(ex, 'prompt');
    const count = clampInt(params.n, 1, 10, 1);
    const asUrl = params.response_format === 'url';
    const data = Array.from({ length: count }, () =>
      asUrl ? { url: `${ex.baseUrl}/__mock/image.png` } : { b64_json: TINY_PNG_B64 },
    );
    sendJson(ex.res, ex.seq, ex.started, 200, { created: nowSeconds(), data });
  };
}

function transcription(ex: Exchange) {
  const file = ex.files.find((f) => f.field === 'file') ?? ex.files[0];
  if (!file) return missingParam(ex, 'file', `'file' must be an uploaded file`);
  const text = `mock transcription of ${file.filename}`;
  const format = ex.params.response_format;
  if (format === 'text' || format === 'srt' || format === 'vtt') {
    return sendBytes(ex.res, ex.seq, ex.started, 200, 'text/plain; charset=utf-8', Buffer.from(text));
  }
  sendJson(ex.res, ex.seq, ex.started, 200, { text });
}

function speech(ex: Exchange) {
  if (typeof ex.params.input !== 'string') return missingParam(ex, 'input');
  sendBytes(ex.res, ex.seq, ex.started, 200, 'audio/mpeg', SPEECH_BYTES);
}

function listModels(ex: Exchange): void | Promise<void> {
  // Anthropic's clients list models at the same path, and always say which API version they speak.
  if (header(ex.req, 'anthropic-version')) return sendMockAnswer(ex, anthropicModels());
  sendRaw(ex.res, ex.seq, ex.started, 200, 'application/json', MODEL_LIST_JSON);
}

function getModel(ex: Exchange) {
  const id = decodeURIComponent(ex.route.slice('/models/'.length));
  const json = MODEL_JSON.get(id);
  if (json === undefined) {
    return sendError(
      ex.res,
      ex.seq,
      ex.started,
      404,
      `The model '${id}' does not exist`,
      'invalid_request_error',
      'model',
      'model_not_found',
    );
  }
  sendRaw(ex.res, ex.seq, ex.started, 200, 'application/json', json);
}

// ---------------------------------------------------------------------------------------------------------------
// Answer text and token arithmetic

/** Text of a message's content: a string, or the text parts of an array of parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (isObject(part) && typeof part.text === 'string') text += text === '' ? part.text : ` ${part.text}`;
  }
  return text;
}

/** Inputs of embeddings and moderations: a string, token ids, or an array of either (or of text parts). */
function inputTexts(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return undefined;
  if (input.every((x) => typeof x === 'number')) return [input.join(' ')];
  return input.map((item) => {
    if (typeof item === 'string') return item;
    if (Array.isArray(item)) return item.join(' ');
    return isObject(item) && typeof item.text === 'string' ? item.text : '';
  });
}

/** Whitespace-separated words; the mock's stand-in for tokens. */
function countWords(text: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || (c >= 9 && c <= 13) || c === 0xa0;
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return words;
}

/**
 * The answer split into stream pieces whose concatenation is the streamed answer: one per word (each keeping its
 * trailing whitespace), or exactly `count` pieces — grouping words when there are more, repeating words to pad the
 * answer when there are fewer.
 */
function streamPieces(answer: string, count?: number): string[] {
  const words = answer.match(/^\s+|\S+\s*/g) ?? [];
  if (count === undefined || count <= 0 || count === words.length) return words;
  if (words.length > count) {
    const pieces: string[] = [];
    for (let k = 0; k < count; k++) {
      pieces.push(
        words.slice(Math.floor((k * words.length) / count), Math.floor(((k + 1) * words.length) / count)).join(''),
      );
    }
    return pieces;
  }
  const fill = words.map((w) => w.trim()).filter((w) => w !== '');
  if (fill.length === 0) fill.push('mock');
  const pieces = [...words];
  const last = pieces.length - 1;
  const lastPiece = pieces[last];
  if (lastPiece !== undefined && !/\s$/.test(lastPiece)) pieces[last] = `${lastPiece} `;
  for (let i = pieces.length; i < count; i++) {
    const word = fill[i % fill.length] ?? 'mock';
    pieces.push(i < count - 1 ? `${word} ` : word);
  }
  return pieces;
}

function tokenUsage(prompt: number, completion: number) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function wantsStreamUsage(ex: Exchange): boolean {
  const options = ex.params.stream_options;
  return !ex.noUsage && isObject(options) && options.include_usage === true;
}

// ---------------------------------------------------------------------------------------------------------------
// Request reading

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function parseBody(req: IncomingMessage, body: Buffer): Promise<ParsedBody> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) return parseMultipart(req, body);
  if (body.length === 0 || !(type.includes('/json') || type.includes('+json')))
    return { jsonInvalid: false, files: [] };
  try {
    return { json: JSON.parse(body.toString('utf8')), jsonInvalid: false, files: [] };
  } catch {
    return { jsonInvalid: true, files: [] };
  }
}

/** Text fields and files are kept (`/files` stores its uploads). */
function parseMultipart(req: IncomingMessage, body: Buffer): Promise<ParsedBody> {
  return new Promise((resolve) => {
    const fields: Record<string, string> = {};
    const files: UploadedFile[] = [];
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers });
    } catch {
      resolve({ fields, files, jsonInvalid: false });
      return;
    }
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (field, stream, info) => {
      const file: UploadedFile = { field, filename: info.filename ?? 'file', bytes: Buffer.alloc(0) };
      files.push(file);
      const chunks: Buffer[] = [];
      // A body cut short fails the file's stream too (the parser's 'error' answers it).
      stream
        .on('error', () => {})
        .on('data', (chunk: Buffer) => chunks.push(chunk))
        .on('end', () => {
          file.bytes = Buffer.concat(chunks);
        });
    });
    parser.on('close', () => resolve({ fields, files, jsonInvalid: false }));
    parser.on('error', () => resolve({ fields, files, jsonInvalid: false }));
    parser.end(body);
  });
}

/** Lower-cased names, repeated headers joined with ', ' (from rawHeaders, so none are dropped). */
function headerRecord(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]?.toLowerCase();
    const value = raw[i + 1];
    if (name === undefined || value === undefined) continue;
    const prior = out[name];
    out[name] = prior === undefined ? value : `${prior}, ${value}`;
  }
  return out;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function parseAnswerHeaders(value: string | undefined): Record<string, string> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (!isObject(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  } catch {
    return {};
  }
}

function intHeader(req: IncomingMessage, name: string): number | undefined {
  const value = header(req, name);
  if (value === undefined) return undefined;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? n : undefined;
}

function clampInt(value: unknown, min: number, max: number, fallback: number): number {
  const n = typeof value === 'string' ? Number.parseInt(value, 10) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// Answer writing

function baseHeaders(n: number, started: number, contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'x-request-id': `req_mock_${n}`,
    'openai-processing-ms': String(Date.now() - started),
  };
}

function sendRaw(res: ServerResponse, n: number, started: number, status: number, type: string, body: string): void {
  const headers = baseHeaders(n, started, type);
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers).end(body);
}

function sendBytes(res: ServerResponse, n: number, started: number, status: number, type: string, body: Buffer): void {
  const headers = baseHeaders(n, started, type);
  headers['content-length'] = String(body.length);
  res.writeHead(status, headers).end(body);
}

function sendJson(res: ServerResponse, n: number, started: number, status: number, body: unknown): void {
  sendRaw(res, n, started, status, 'application/json', JSON.stringify(body));
}

function sendError(
  res: ServerResponse,
  n: number,
  started: number,
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
  extraHeaders?: Record<string, string>,
): void {
  const body = JSON.stringify({ error: { message, type, param, code } });
  const headers = baseHeaders(n, started, 'application/json');
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, { ...headers, ...extraHeaders }).end(body);
}

function missingParam(ex: Exchange, param: string, message = `Missing required parameter: '${param}'.`): void {
  sendError(ex.res, ex.seq, ex.started, 400, message, 'invalid_request_error', param, null);
}

/**
 * Writes server-sent events one per write, as providers do, honouring backpressure and stopping when the client goes
 * away.
 */
async function sendStream(ex: Exchange, events: string[]): Promise<void> {
  const { req, res } = ex;
  res.writeHead(200, {
    ...baseHeaders(ex.seq, ex.started, 'text/event-stream; charset=utf-8'),
    'cache-control': 'no-cache',
  });

  if (header(req, 'x-mock-fault') === 'disconnect-mid-stream') {
    // The role chunk and the first content chunk or two, then the connection drops without [DONE].
    res.write(events.slice(0, 3).join(''), () => setImmediate(() => req.socket.destroy()));
    return;
  }

  const delay = Math.max(0, intHeader(req, 'x-mock-chunk-delay-ms') ?? 0);
  for (let i = 0; i < events.length; i++) {
    if (res.destroyed) return;
    if (i > 0 && delay > 0) await pause(delay, res);
    const data = events[i];
    if (data !== undefined && !res.write(data)) await drained(res);
  }
  if (!res.destroyed) res.end();
}

/** Waits `ms`, or less if the response closes first, so a departed client frees its timer. */
function pause(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
