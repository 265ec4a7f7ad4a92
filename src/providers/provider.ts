// What every provider adapter declares: which OpenAI endpoints it serves, how an
// OpenAI-shaped request becomes the provider's, and how the provider's answer, errors and
// stream become OpenAI's again. The gateway speaks OpenAI's wire format everywhere else.
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { ProviderName } from '../domain.js';
import type { Endpoint } from '../wire/endpoints.js';
import { isObject, type Json, parseObject } from '../wire/json.js';

/** One call to a provider, as the gateway asks for it: OpenAI's request, the target's settings. */
export interface ProviderCall {
  endpoint: Endpoint;
  method: string;
  /** OpenAI's path below the version prefix, e.g. `/chat/completions`. */
  path: string;
  /** Query string including its `?`, or ''. */
  query: string;
  /** The OpenAI JSON body after the request phase (redactions applied), or null. */
  json: Json | null;
  /** The bytes an OpenAI-compatible upstream gets. */
  rawBody: Buffer | string | null;
  /** The model as the provider names it (after the target's model map). */
  model: string | null;
  stream: boolean;
  /** The client's headers that cross the gateway (no authorization, no `x-usagepanda-*`). */
  headers: Record<string, string>;
  baseUrl: string;
  apiKey: string | null;
  apiVersion?: string;
  deployments?: Record<string, string>;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** The HTTP request to send: `base` is an origin plus a path prefix, `path` the rest. */
export interface ProviderRequest {
  base: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | string | null;
}

/** Turns a provider's streamed bytes into OpenAI SSE text, piece by piece. */
export interface StreamTranslator {
  push(chunk: Buffer): string;
  /** Whatever is left when the provider's stream ends. */
  end(): string;
}

export interface ProviderAdapter {
  name: ProviderName;
  /** The provider's own API when a target names none. */
  defaultBaseUrl(call: Pick<ProviderCall, 'region'>): string;
  /** The OpenAI endpoints it can answer. */
  serves(endpoint: Endpoint): boolean;
  /** Which key the provider needs: none for Bedrock (it signs with AWS credentials). */
  needsApiKey: boolean;
  request(call: ProviderCall): ProviderRequest | Promise<ProviderRequest>;
  /**
   * The translations back; absent for providers that answer in OpenAI's format already.
   * `answer` maps a successful JSON answer, `error` any error answer (JSON or not).
   */
  translate?: {
    answer(call: ProviderCall, json: Json): Json;
    error(status: number, text: string): Json;
    stream(call: ProviderCall): StreamTranslator;
    /** The header carrying the provider's request id. */
    requestIdHeader: string;
  };
}

/** OpenAI's error shape for a provider's error, keeping its message. */
export function openAiError(status: number, message: string, type?: string): Json {
  return {
    error: {
      message,
      type: type ?? (status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error'),
      param: null,
      code: null,
    },
  };
}

/** One SSE event carrying a JSON object. */
export const sseEvent = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

/**
 * The OpenAI side of a translated stream: chat.completion.chunk events (with `usage: null`
 * while the client asked for usage, as OpenAI sends them), the usage chunk and `[DONE]`,
 * gathered until the relay takes them.
 */
export class ChatChunks {
  private readonly created = Math.floor(Date.now() / 1000);
  private out = '';

  constructor(
    /** The completion id; a provider's own id replaces the made-up one once it is known. */
    public id: string,
    public model: string,
    private readonly includeUsage: boolean,
  ) {}

  /** One delta of the (single) choice, with its finish reason at the end. */
  delta(delta: Json, finishReason: string | null = null): void {
    this.out += sseEvent({
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
    });
  }

  /** An event as it is, e.g. an error in OpenAI's shape. */
  event(data: unknown): void {
    this.out += sseEvent(data);
  }

  /** The stream's end: the usage chunk when the client asked for it and there is usage, then `[DONE]`. */
  finish(usage: Json | null): void {
    if (this.includeUsage && usage) {
      this.out += sseEvent({
        id: this.id,
        object: 'chat.completion.chunk',
        created: this.created,
        model: this.model,
        choices: [],
        usage,
      });
    }
    this.out += 'data: [DONE]\n\n';
  }

  /** What was written since the last take. */
  take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }
}

/**
 * A provider's server-sent event stream read into chat.completion.chunk events: each
 * event's data goes to `onEvent`, which writes into `chunks`; `finish` runs at the end.
 */
export abstract class ProviderEventStream implements StreamTranslator {
  private readonly parser = createParser({ onEvent: (event) => this.onEvent(event.data) });
  private readonly decoder = new TextDecoder();

  constructor(protected readonly chunks: ChatChunks) {}

  push(chunk: Buffer): string {
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    return this.chunks.take();
  }

  end(): string {
    this.parser.feed(this.decoder.decode());
    this.finish();
    return this.chunks.take();
  }

  protected abstract onEvent(data: string): void;

  /** Whatever the stream's end adds (the usage chunk, when the provider's last event does not). */
  protected finish(): void {}
}

/**
 * A client API that a chat-completions target can serve: its request written as a chat
 * completion, and the chat answer, stream and errors written back in the API's own shapes.
 * Used only when the target speaks another API than the client (DESIGN.md: translate only
 * across providers).
 */
export interface ChatBridge {
  /** The chat request; a body the chat format cannot express is a 400 naming the field. */
  chatRequest(body: Json, endUser: string | undefined): Json;
  /** A chat completion as the API's answer. */
  answer(completion: Json): Json;
  /** An error with its status and message in the API's shape. */
  error(status: number, message: string): Json;
  /** chat.completion.chunk events as the API's stream events. */
  stream(): NativeStream;
}

/**
 * A provider's own API spoken by the client at a native route (`/anthropic`, `/gemini`):
 * forwarded as sent to a target of that provider, bridged to chat completions for others.
 */
export interface NativeApi extends ChatBridge {
  provider: 'anthropic' | 'gemini';
  /** The header the provider's SDK sends its API key in, and the provider reads it from. */
  keyHeader: string;
  /** The header carrying the provider's request id, if it sends one. */
  requestIdHeader: string | null;
  /** An error event that ends a stream, in the API's own stream format. */
  errorEvent(status: number, message: string): string;
}

export interface NativeStream {
  push(chunk: Buffer | string): string;
  end(): string;
}

/**
 * Reads an OpenAI chat stream for a native route: each chunk, an error event, and the end
 * (`[DONE]` or the stream's close), written into `out` in the provider's shape.
 */
export abstract class ChatStreamReader implements NativeStream {
  protected out = '';
  private readonly parser: EventSourceParser;
  private readonly decoder = new TextDecoder();
  private ended = false;

  constructor() {
    this.parser = createParser({
      onEvent: (message) => {
        if (this.ended) return;
        if (message.data === '[DONE]') {
          this.ended = true;
          this.done();
          return;
        }
        const data = parseObject(message.data);
        if (!data) return;
        if (isObject(data.error)) {
          this.ended = true;
          this.error(data);
        } else this.chunk(data);
      },
    });
  }

  push(chunk: Buffer | string): string {
    this.parser.feed(typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }));
    return this.take();
  }

  end(): string {
    this.parser.feed(`${this.decoder.decode()}\n\n`);
    if (!this.ended) {
      this.ended = true;
      this.done();
    }
    return this.take();
  }

  protected abstract chunk(chunk: Json): void;
  protected abstract error(error: Json): void;
  protected abstract done(): void;

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }
}
