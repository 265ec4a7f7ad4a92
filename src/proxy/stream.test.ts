import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Exchange } from '../exchange.js';
import { StreamInspector, UsageChunkStripper } from './stream.js';

/** Feeds the text in pieces of `size` bytes and returns everything the stripper let through. */
function strip(text: string, size: number): string {
  const bytes = Buffer.from(text);
  const stripper = new UsageChunkStripper();
  let out = '';
  for (let i = 0; i < bytes.length; i += size) out += stripper.push(bytes.subarray(i, i + size));
  return out + stripper.end();
}

const chunk = (content: string, extra = '') =>
  `data: {"id":"c1","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}}}]${extra}}`;
const usageChunk = 'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';

describe('usage chunk stripper', () => {
  it.each([1, 3, 7, 1000])('removes the injected usage chunk and the null usages, fed %i bytes at a time', (size) => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const upstream = [chunk('héllo ', ',"usage":null'), chunk('wörld', ',"usage":null'), usageChunk, 'data: [DONE]']
        .map((event) => `${event}${eol}${eol}`)
        .join('');
      const expected = [chunk('héllo '), chunk('wörld'), 'data: [DONE]']
        .map((event) => `${event}${eol}${eol}`)
        .join('');
      expect(strip(upstream, size)).toBe(expected);
    }
  });

  it('strips whole events exactly as an event-by-event reference does, however the stream is split', () => {
    const event = fc.oneof(
      fc.string().map((text) => chunk(text, ',"usage":null')),
      fc.string().map((text) => chunk(text)),
      fc.constant(usageChunk),
      fc.constant(': keep-alive'),
      fc.constant('data: [DONE]'),
    );
    // The reference: split at every blank line, then keep, clean or drop each event on its own.
    const reference = (text: string, eol: string) =>
      text
        .split(`${eol}${eol}`)
        .map((e, i, all) => (i < all.length - 1 ? `${e}${eol}${eol}` : e))
        .filter((e) => !(e.includes('"usage":{') && e.includes('"choices":[]')))
        .map((e) => e.replaceAll(',"usage":null', ''))
        .join('');
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 12 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.integer({ min: 1, max: 64 }),
        (events, eol, size) => {
          const upstream = events.map((e) => `${e}${eol}${eol}`).join('');
          expect(strip(upstream, size)).toBe(reference(upstream, eol));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('passes text that only mentions usage, and an unterminated last event, unchanged', () => {
    const text = `${chunk('the \\"usage\\":null word')}\n\n: comment\n\ndata: [DONE]`;
    expect(strip(text, 5)).toBe(text);
  });
});

describe('stream inspector', () => {
  it('passes a stream that begins with a byte-order mark on with it, and still reads its events', () => {
    const ex = new Exchange('POST', '/chat/completions', '', {}, null);
    const inspector = new StreamInspector(ex);
    const stripper = new UsageChunkStripper();
    const upstream = Buffer.from(
      `\uFEFF${chunk('hi', ',"usage":null')}\n\n${usageChunk}\n\ndata: [DONE]\n\n`.replace('"c1"', '"chatcmpl-bom"'),
    );
    let out = '';
    // Split inside the three bytes of the mark itself, and inside the events.
    for (const piece of [upstream.subarray(0, 2), upstream.subarray(2, 40), upstream.subarray(40)]) {
      out += stripper.push(inspector.feed(piece, true));
    }
    out += stripper.end();
    expect(out).toBe(`\uFEFF${chunk('hi').replace('"c1"', '"chatcmpl-bom"')}\n\ndata: [DONE]\n\n`);
    expect(ex.upstreamId).toBe('chatcmpl-bom');
    expect(ex.usage).toMatchObject({ promptTokens: 1, completionTokens: 2 });
  });
});
