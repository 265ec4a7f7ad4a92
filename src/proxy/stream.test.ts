import { describe, expect, it } from 'vitest';
import { UsageChunkStripper } from './stream.js';

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

  it('passes text that only mentions usage, and an unterminated last event, unchanged', () => {
    const text = `${chunk('the \\"usage\\":null word')}\n\n: comment\n\ndata: [DONE]`;
    expect(strip(text, 5)).toBe(text);
  });
});
