// A slow client must not make the gateway buffer the whole answer: when the client stops
// reading, the gateway stops reading from upstream, and upstream's writes back up.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

const STREAM_BYTES = 64 * 1024 * 1024;
const EVENT = `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x'.repeat(64 * 1024) } }] })}\n\n`;

/** An upstream that streams STREAM_BYTES of SSE as fast as its socket accepts them. */
function floodingUpstream() {
  let written = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pump = () => {
      while (written < STREAM_BYTES) {
        written += EVENT.length;
        if (!res.write(EVENT)) return void res.once('drain', pump);
      }
      res.end('data: [DONE]\n\n');
    };
    pump();
  });
  return { server, written: () => written };
}

let stack: Stack;
let upstream: ReturnType<typeof floodingUpstream>;
beforeAll(async () => {
  stack = await startStack();
  upstream = floodingUpstream();
  await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  upstream.server.closeAllConnections();
  upstream.server.close();
  await stack?.close();
});

/** Polls until the value stops changing for a while, then returns it. */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  for (;;) {
    const now = read();
    if (now === last) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

describe('backpressure', () => {
  it('stops pulling from upstream while the client does not read, and relays everything once it does', async () => {
    const address = upstream.server.address();
    if (typeof address !== 'object' || !address) throw new Error('no port');
    const { key } = await stack.createConnection({ upstream: `http://127.0.0.1:${address.port}/v1` });

    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${stack.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-usagepanda-api-key': key, authorization: 'Bearer sk-x' },
      });
      req.on('response', resolve).on('error', reject);
      req.end(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }));
    });
    response.pause();

    // Only socket buffers sit between upstream and the paused client, a few MB at most.
    const writtenWhilePaused = await settled(upstream.written);
    expect(writtenWhilePaused).toBeLessThan(STREAM_BYTES / 4);

    let received = 0;
    response.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    response.resume();
    await new Promise((resolve) => response.on('end', resolve));
    expect(received).toBe(upstream.written() + 'data: [DONE]\n\n'.length);
    const record = await stack.record(response.headers['x-usagepanda-request-id'] as string);
    expect(record.status).toBe(200);
    expect(record.stream).toBe(true);
  });
});
