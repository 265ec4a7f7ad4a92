// Reads an answer upstream sent as JSON whole, as the answer policies and the usage need
// it, but never more than the gateway's bound: a huge answer is a 502 that says why, not a
// gateway out of memory, and an answer that breaks off is a 502, not a bug.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError, upstreamAnswerBroken, upstreamAnswerTooLarge } from '../errors.js';
import { upstreamFailure } from './forward.js';

export async function readJsonAnswer(
  upstream: { headers: Dispatcher.ResponseData['headers']; body: Readable },
  limit: number,
): Promise<string> {
  if (Number(upstream.headers['content-length']) > limit) {
    upstream.body.destroy();
    throw upstreamAnswerTooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of upstream.body) {
      size += (chunk as Buffer).length;
      // Leaving the loop destroys the body: the rest is not read.
      if (size > limit) throw upstreamAnswerTooLarge(limit);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    const failure = upstreamFailure(err);
    // An abort (the client left) and a timeout (504) say so themselves.
    if (
      !(failure instanceof GatewayError) ||
      failure.status !== 502 ||
      failure.code === 'UP_ERR_UPSTREAM_ANSWER_TOO_LARGE'
    )
      throw failure;
    throw upstreamAnswerBroken((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  // As undici's body.text(): a byte-order mark is not part of the JSON.
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return bytes.toString('utf8', start);
}
