// Relays a server-sent event stream to the client chunk by chunk as it arrives, waiting
// for the client to drain, while reading the stream's id and final usage on the side.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { usageFrom } from '../accounting/usage.js';
import { GatewayError } from '../errors.js';
import type { Exchange } from './exchange.js';
import { upstreamFailure } from './forward.js';

/** Watches the events going by; never changes a byte of them. */
export class StreamInspector {
  private readonly parser: EventSourceParser;
  private readonly decoder = new TextDecoder();
  private sawFirstEvent = false;

  constructor(private readonly ex: Exchange) {
    this.parser = createParser({ onEvent: (event) => this.inspect(event.data) });
  }

  feed(chunk: Buffer): void {
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
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
): Promise<void> {
  try {
    for await (const chunk of body) {
      inspector?.feed(chunk as Buffer);
      if (!res.write(chunk)) await once(res, 'drain', { signal });
    }
  } catch (err) {
    if (signal.aborted) return;
    const failure = upstreamFailure(err);
    const message = failure instanceof GatewayError ? failure.message : 'Usage Panda: upstream stream failed';
    ex.status = failure instanceof GatewayError ? failure.status : 502;
    ex.error = `${message} (mid-stream)`;
    if (inspector) {
      const event = { error: { message: ex.error, type: 'upstream_error', param: null, code: null } };
      res.write(`data: ${JSON.stringify(event)}\n\n`);
    }
  }
  res.end();
}
