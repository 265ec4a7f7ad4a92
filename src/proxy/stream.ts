// Relays a server-sent event stream to the client chunk by chunk as it arrives, waiting
// for the client to drain, while reading the stream's id and final usage on the side.
// When the gateway asked upstream for usage the client did not ask for, the extra usage
// chunk is taken out again so the client receives exactly the stream it asked for.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { estimateUsage, StreamTextSample } from '../accounting/tokenizer.js';
import { usageFrom } from '../accounting/usage.js';
import { GatewayError, policyBlocked } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { anthropicUsage } from '../providers/anthropic/usage.js';
import { geminiUsage } from '../providers/gemini/usage.js';
import type { Endpoint } from '../wire/endpoints.js';
import { isObject, type Json, parseObject } from '../wire/json.js';
import { lastEventEnd, nextEventEnd } from '../wire/sse.js';
import type { Usage } from '../wire/usage.js';
import type { StreamBodyLog } from './bodies.js';
import type { ClientAbort } from './client-abort.js';
import { upstreamFailure } from './forward.js';
import type { StreamAnswerFilter } from './stream-answer.js';

/** Endpoints whose streams carry usage only when `stream_options.include_usage` is set. */
const USAGE_OPTION_ENDPOINTS = new Set(['chat.completions', 'completions']);

/**
 * Asks upstream for the final usage chunk of a stream when the client did not, so every
 * streamed record has real token counts. Returns true when the body was changed.
 */
export function requestStreamUsage(ex: Exchange): boolean {
  const body = ex.json;
  if (!ex.stream || !body || !USAGE_OPTION_ENDPOINTS.has(ex.endpoint)) return false;
  const options = body.stream_options;
  const existing = typeof options === 'object' && options !== null && !Array.isArray(options) ? options : {};
  if ((existing as { include_usage?: unknown }).include_usage === true) return false;
  body.stream_options = { ...existing, include_usage: true };
  ex.bodyRewritten = true;
  ex.streamUsageInjected = true;
  return true;
}

/**
 * Takes back what requestStreamUsage added, for an upstream that refused it (some
 * OpenAI-compatible servers answer 400 to `stream_options`).
 */
export function withdrawStreamUsage(ex: Exchange): void {
  const body = ex.json;
  const options = body?.stream_options;
  if (!body || !ex.streamUsageInjected || typeof options !== 'object' || options === null) return;
  const { include_usage: _added, ...rest } = options as Record<string, unknown>;
  if (Object.keys(rest).length === 0) delete body.stream_options;
  else body.stream_options = rest;
  ex.streamUsageInjected = false;
}

/** Upstreams (by base URL) that refused `stream_options` lately, so they are not asked again for a while. */
export class StreamOptionsRefusals {
  private readonly until = new Map<string, number>();

  constructor(private readonly forgetAfterMs = 10 * 60_000) {}

  has(base: string, now = Date.now()): boolean {
    const until = this.until.get(base);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(base);
    return false;
  }

  add(base: string, now = Date.now()): void {
    if (this.until.size >= 1_000) this.until.clear();
    this.until.set(base, now + this.forgetAfterMs);
  }
}

/** An event carrying usage; JSON text never holds these quotes unescaped inside a string. */
const USAGE_OBJECT = '"usage":{';

const objectId = (value: unknown) => (isObject(value) ? value.id : undefined);

/** Reads a stream's usage from the events that carry it (found by `marker`), in the stream's API. */
interface StreamUsageReader {
  marker: string;
  read(event: Json | undefined): Usage | null;
}

function streamUsageReader(endpoint: Endpoint): StreamUsageReader {
  if (endpoint === 'anthropic.messages') {
    // message_start has the input side, message_delta the output (newer APIs repeat the rest there).
    const seen: Json = {};
    return {
      marker: USAGE_OBJECT,
      read(event) {
        const usage = isObject(event?.message) ? event.message.usage : event?.usage;
        if (!isObject(usage)) return null;
        Object.assign(seen, usage);
        return anthropicUsage(seen);
      },
    };
  }
  if (endpoint === 'gemini.generate') {
    return { marker: '"usageMetadata":{', read: (event) => geminiUsage(event?.usageMetadata) };
  }
  return { marker: USAGE_OBJECT, read: usageFrom };
}

/**
 * Watches the events going by for the answer's id and usage. Without answer filters (or
 * with filters that only audit) it never changes a byte; with them, each event is passed
 * through the filters and re-serialised, and a filter that blocks stops the stream.
 */
export class StreamInspector {
  private readonly parser: EventSourceParser;
  // A byte-order mark is kept: the text may go on to the client (see feed).
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private sawFirstEvent = false;
  private fedText = false;
  private out = '';
  private stopped = false;
  /**
   * The stream's beginning, for the tokenizer in case upstream never reports usage (read
   * only then, at the end); dropped once usage arrives. Bounded: nothing grows with the stream.
   */
  private sample: StreamTextSample | null = new StreamTextSample();

  private readonly usage: StreamUsageReader;

  constructor(
    private readonly ex: Exchange,
    private readonly answer: StreamAnswerFilter | null = null,
  ) {
    this.parser = createParser({ onEvent: (event) => this.onEvent(event) });
    this.usage = streamUsageReader(ex.endpoint);
  }

  /**
   * What to send the client for this chunk: the chunk itself (as the text it decoded to,
   * when `asText`, so a next step need not decode it again), or the rewritten events.
   */
  feed(chunk: Buffer, asText = false): Buffer | string {
    const text = this.decoder.decode(chunk, { stream: true });
    // The parser reads events without the byte-order mark a stream may begin with.
    const bom = !this.fedText && text.charCodeAt(0) === 0xfeff;
    if (text !== '') this.fedText = true;
    const events = bom ? text.slice(1) : text;
    this.sample?.add(events);
    this.parser.feed(events);
    if (!this.answer || this.answer.observesOnly) return asText ? text : chunk;
    const out = this.out;
    this.out = '';
    return out;
  }

  /** True once a policy blocked the answer: the stream has ended with an error event. */
  get blocked(): boolean {
    return this.stopped;
  }

  /** Text still held back by the filters when upstream ended without its closing event. */
  finish(): string {
    if (!this.answer || this.stopped) return '';
    const rest = this.answer.flushAll();
    return this.answer.observesOnly ? '' : rest;
  }

  private onEvent(event: EventSourceMessage): void {
    this.inspect(event.data);
    if (!this.answer || this.stopped) return;
    const rewritten = this.answer.rewrite(event);
    if (this.ex.blocked) {
      // Nothing of the event that matched goes out: the stream ends with the reason instead.
      this.stopped = true;
      const error = policyBlocked(this.ex.blocking);
      this.ex.status = error.status;
      this.ex.error = error.message;
      this.out += errorEvent(this.ex, error.status, error.message, error.type);
      return;
    }
    this.out += rewritten;
  }

  /** At the end of the stream: counts tokens when upstream reported none. */
  async estimateMissingUsage(): Promise<void> {
    if (this.ex.usage || this.ex.status >= 400 || !this.sample) return;
    this.ex.usage = await estimateUsage(this.ex.endpoint, this.ex.json, this.sample);
  }

  private inspect(data: string): void {
    if (!this.sawFirstEvent) {
      this.sawFirstEvent = true;
      const first = parseObject(data);
      const id = first && (first.id ?? first.responseId ?? objectId(first.response) ?? objectId(first.message));
      if (!this.ex.upstreamId && typeof id === 'string') this.ex.upstreamId = id;
    }
    // Only the events that carry usage are parsed; chat chunks say `"usage":null` until then.
    if (data.includes(this.usage.marker)) {
      const usage = this.usage.read(parseObject(data));
      if (usage) {
        this.ex.usage = usage;
        this.sample = null;
      }
    }
  }
}

/** The event that ends a stream with an error, in the client's API: OpenAI's error shape, or the native API's. */
function errorEvent(ex: Exchange, status: number, message: string, type: string): string {
  if (ex.native) return ex.native.api.errorEvent(status, message);
  return `data: ${JSON.stringify({ error: { message, type, param: null, code: null } })}\n\n`;
}

/** What upstream adds to every chunk once include_usage is on; the client did not ask for it. */
const NULL_USAGE = ',"usage":null';
const NO_CHOICES = '"choices":[]';

/**
 * Removes what `include_usage` added: the usage-only chunk (empty `choices`) and the
 * `"usage":null` on the other chunks. Works on whole events and passes every other byte
 * through unchanged; only a partial event at the end of a chunk is held back.
 */
export class UsageChunkStripper {
  // A byte-order mark is passed on too: the client gets upstream's bytes.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private pending = '';

  push(chunk: Buffer | string): string {
    const text = this.pending + (typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }));
    const end = lastEventEnd(text);
    this.pending = end === text.length ? '' : text.slice(end);
    return end === 0 ? '' : strippedEvents(end === text.length ? text : text.slice(0, end));
  }

  /** Whatever is left when the stream ends (an unterminated last event), passed on as is. */
  end(): string {
    const rest = this.pending + this.decoder.decode();
    this.pending = '';
    return rest === '' ? '' : strippedEvents(rest);
  }
}

/** Whole events, all at once: the null usages dropped, and the usage-only events. */
function strippedEvents(events: string): string {
  let out = events.includes(NULL_USAGE) ? events.replaceAll(NULL_USAGE, '') : events;
  for (let at = out.indexOf(USAGE_OBJECT); at !== -1; at = out.indexOf(USAGE_OBJECT, at)) {
    const start = lastEventEnd(out, at);
    const end = nextEventEnd(out, at);
    if (out.slice(start, end).includes(NO_CHOICES)) {
      out = out.slice(0, start) + out.slice(end);
      at = start;
    } else {
      at = end;
    }
  }
  return out;
}

/**
 * Copies upstream's stream to the client. A client that leaves aborts `abort` (and with it
 * the upstream request); an upstream that fails mid-stream ends the client's stream with an
 * OpenAI-shaped error event, so the client still receives well-formed SSE. A native route's
 * stream (`native`) is written in its API's events instead, the error event included.
 */
export async function relayStream(
  ex: Exchange,
  body: Readable,
  res: ServerResponse,
  abort: ClientAbort,
  inspector: StreamInspector | null,
  log: StreamBodyLog | null = null,
): Promise<void> {
  const stripper = inspector && ex.streamUsageInjected ? new UsageChunkStripper() : null;
  // Policies rewrite first; then the usage the client did not ask for is taken out.
  const send = async (out: Buffer | string) => {
    log?.add(out);
    if (out.length > 0 && !res.write(out)) await once(res, 'drain', { signal: abort.signal });
  };
  const write = (chunk: Buffer | string) => send(stripper ? stripper.push(chunk) : chunk);
  try {
    for await (const chunk of body) {
      await write(inspector ? inspector.feed(chunk as Buffer, stripper !== null) : (chunk as Buffer));
      // Leaving the loop destroys the upstream body: a blocked answer is not read further.
      if (inspector?.blocked) break;
    }
    await write(inspector?.finish() ?? '');
    if (stripper) await send(stripper.end());
    await inspector?.estimateMissingUsage();
  } catch (err) {
    // The client left; a total timeout (abort.failure) ends the stream with its error instead.
    if (abort.aborted && !abort.failure) return;
    const failure = abort.failure ?? upstreamFailure(err);
    const message = failure instanceof GatewayError ? failure.message : 'Usage Panda: upstream stream failed';
    ex.status = failure instanceof GatewayError ? failure.status : 502;
    ex.error = `${message} (mid-stream)`;
    if (inspector) {
      const event = errorEvent(ex, ex.status, ex.error, 'upstream_error');
      log?.add(event);
      res.write(event);
    }
  }
  res.end();
}
