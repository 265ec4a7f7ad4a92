// Relays a server-sent event stream to the client chunk by chunk as it arrives, waiting
// for the client to drain, while reading the stream's id and final usage on the side.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { usageFrom } from '../accounting/usage.js';
import { GatewayError, policyBlocked } from '../errors.js';
import type { StreamBodyLog } from './bodies.js';
import type { Exchange } from './exchange.js';
import { upstreamFailure } from './forward.js';
import type { StreamAnswerFilter } from './stream-answer.js';

/**
 * Watches the events going by for the answer's id and usage. Without answer filters it
 * never changes a byte; with them, each event is passed through the filters and
 * re-serialised, and a filter that blocks stops the stream.
 */
export class StreamInspector {
  private readonly parser: EventSourceParser;
  private readonly decoder = new TextDecoder();
  private sawFirstEvent = false;
  private out = '';
  private stopped = false;

  constructor(
    private readonly ex: Exchange,
    private readonly answer: StreamAnswerFilter | null = null,
  ) {
    this.parser = createParser({ onEvent: (event) => this.onEvent(event) });
  }

  /** What to send the client for this chunk: the chunk itself, or the rewritten events. */
  feed(chunk: Buffer): Buffer | string {
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    if (!this.answer) return chunk;
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
    return this.answer.flushAll();
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
      this.out += `data: ${JSON.stringify(error.toBody())}\n\n`;
      return;
    }
    this.out += rewritten;
  }

  private inspect(data: string): void {
    if (!this.sawFirstEvent) {
      this.sawFirstEvent = true;
      const first = parseObject(data);
      const id = first?.id ?? (first?.response as { id?: unknown } | undefined)?.id;
      if (!this.ex.upstreamId && typeof id === 'string') this.ex.upstreamId = id;
    }
    // Only the chunk that carries usage is parsed; chat chunks say `"usage":null` until then.
    if (data.includes('"usage":{')) {
      const usage = usageFrom(parseObject(data));
      if (usage) this.ex.usage = usage;
    }
  }
}

function parseObject(data: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Copies upstream's stream to the client. A client that leaves aborts `signal` (and with it
 * the upstream request); an upstream that fails mid-stream ends the client's stream with an
 * OpenAI-shaped error event, so the client still receives well-formed SSE.
 */
export async function relayStream(
  ex: Exchange,
  body: Readable,
  res: ServerResponse,
  signal: AbortSignal,
  inspector: StreamInspector | null,
  log: StreamBodyLog | null = null,
): Promise<void> {
  try {
    for await (const chunk of body) {
      const out = inspector ? inspector.feed(chunk as Buffer) : (chunk as Buffer);
      log?.add(out);
      if (out.length > 0 && !res.write(out)) await once(res, 'drain', { signal });
      // Leaving the loop destroys the upstream body: a blocked answer is not read further.
      if (inspector?.blocked) break;
    }
    const rest = inspector?.finish();
    if (rest) {
      log?.add(rest);
      res.write(rest);
    }
  } catch (err) {
    if (signal.aborted) return;
    const failure = upstreamFailure(err);
    const message = failure instanceof GatewayError ? failure.message : 'Usage Panda: upstream stream failed';
    ex.status = failure instanceof GatewayError ? failure.status : 502;
    ex.error = `${message} (mid-stream)`;
    if (inspector) {
      const event = `data: ${JSON.stringify({ error: { message: ex.error, type: 'upstream_error', param: null, code: null } })}\n\n`;
      log?.add(event);
      res.write(event);
    }
  }
  res.end();
}
