// One request through the gateway: what came in, the connection and its resolved policy,
// the flags raised, what upstream answered, and the timings — everything the log record needs.
import type { IncomingHttpHeaders } from 'node:http';
import { type Connection, type Flag, type Operation, requestIdPrefix, type UpstreamAttempt } from './domain.js';
import type { PolicySettings } from './policy-settings.js';
import type { NativeRoute } from './providers/native.js';
import { classifyEndpoint, type Endpoint, operationOf } from './wire/endpoints.js';
import type { Usage } from './wire/usage.js';

export type RequestBody =
  | { kind: 'none' }
  | { kind: 'json'; raw: Buffer; json: Record<string, unknown> }
  | {
      kind: 'multipart';
      raw: Buffer;
      fields: Record<string, string>;
      /** The file parts by field name, kept only where the gateway reads them (batch uploads). */
      files?: Record<string, Buffer>;
    }
  | { kind: 'raw'; raw: Buffer };

/** An answer made by the gateway itself (an auto-reply), sent instead of calling upstream. */
export type GatewayAnswer = { status: number; json: unknown } | { status: number; sse: string };

let sequence = 0;

/** Time-ordered, unique ids: newest-first is `ORDER BY id DESC`. */
export function newRequestId(now: number): string {
  sequence = (sequence + 1) % 46656;
  const random = Math.floor(Math.random() * 36 ** 6);
  return `${requestIdPrefix(now)}${sequence.toString(36).padStart(3, '0')}${random.toString(36).padStart(6, '0')}`;
}

export class Exchange {
  readonly id: string;
  readonly ts = Date.now();
  /** performance.now() at arrival. */
  readonly startedAt = performance.now();
  readonly endpoint: Endpoint;
  readonly operation: Operation;

  connection: Connection | null = null;
  /** Set when the client speaks a provider's own API (a native route): `path` is then the provider's path. */
  native: NativeRoute | null = null;
  /** True when a standalone gateway applied its default policy to a request without a key. */
  standalone = false;
  body: RequestBody = { kind: 'none' };
  /** True once a policy changed the JSON body (redaction), so it must be serialised again. */
  bodyRewritten = false;
  /** Multipart text fields a policy rewrote; their new values are in `body.fields`. */
  readonly rewrittenFields = new Set<string>();
  /** Multipart file parts a policy rewrote (redacted batch files); their new bytes are in `body.files`. */
  readonly rewrittenFiles = new Set<string>();
  /** The resolved value of every policy setting: header override, else connection, else default. */
  settings: PolicySettings | null = null;

  model: string | null = null;
  endUser: string | null = null;
  stream = false;
  traceId: string | null = null;

  readonly flags: Flag[] = [];
  /** Descriptions of the flags that block the request; non-empty means 422. */
  readonly blocking: string[] = [];
  moderated = false;
  answer: GatewayAnswer | null = null;
  /** Headers the gateway adds to whatever answer this request gets (the `x-ratelimit-*` of its limits). */
  readonly responseHeaders: Record<string, string> = {};

  status = 0;
  error: string | null = null;
  usage: Usage | null = null;
  /** True when the gateway asked upstream for stream usage the client did not ask for. */
  streamUsageInjected = false;
  upstreamId: string | null = null;
  /** performance.now() when the request was first sent upstream; null when upstream was not called. */
  upstreamSentAt: number | null = null;
  /** ms from sending upstream to its response headers; null when upstream was not called. */
  upstreamHeadersMs: number | null = null;
  /** ms from sending upstream to the end of its answer. */
  upstreamLatencyMs: number | null = null;
  requestBodyText: string | null = null;
  responseBodyText: string | null = null;
  /** The provider that answered (or was to answer); the record's provider and price list. */
  provider = 'openai';
  /** The model as that provider named it (a target's model map may rename it); priced instead of `model`. */
  providerModel: string | null = null;
  /** Every call to upstream, retries included. */
  readonly attempts: UpstreamAttempt[] = [];

  constructor(
    readonly method: string,
    /** Path below the version prefix, e.g. `/chat/completions`. */
    readonly path: string,
    /** Query string including its `?`, or ''. */
    readonly query: string,
    readonly headers: IncomingHttpHeaders,
    readonly ip: string | null,
    /** A native route's endpoint, told apart by its own path (providers/native.ts); else classified here. */
    endpoint?: Endpoint,
  ) {
    this.id = newRequestId(this.ts);
    this.endpoint = endpoint ?? classifyEndpoint(method, path);
    this.operation = operationOf(this.endpoint, path);
  }

  /** Raises a flag; `block` makes the request fail with 422 after the request phase. */
  flag(flag: Flag, options: { block: boolean }): void {
    this.flags.push(flag);
    if (options.block) this.blocking.push(flag.description);
  }

  get blocked(): boolean {
    return this.blocking.length > 0;
  }

  /** The JSON body as an object, or undefined for other bodies. */
  get json(): Record<string, unknown> | undefined {
    return this.body.kind === 'json' ? this.body.json : undefined;
  }

  /** A top-level body field as a string: JSON property or multipart field. */
  field(name: string): string | undefined {
    if (this.body.kind === 'json') {
      const value = this.body.json[name];
      return typeof value === 'string' ? value : undefined;
    }
    if (this.body.kind === 'multipart') return this.body.fields[name];
    return undefined;
  }

  /** The path as the client called it, for messages: `/v1/…`, or the native route's. */
  get clientPath(): string {
    return this.native?.path ?? `/v1${this.path}`;
  }

  header(name: string): string | undefined {
    const value = this.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}
