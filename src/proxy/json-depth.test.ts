import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from './json-depth.js';

const nested = (depth: number) => Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
const deepest = (json: string) => {
  // The reference: the depth JSON.parse's own result has.
  const depthOf = (value: unknown): number =>
    typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0;
  return depthOf(JSON.parse(json));
};

describe('nestsDeeperThan', () => {
  it('counts objects and arrays alike, up to the limit and one past it', () => {
    expect(nestsDeeperThan(nested(3), 3)).toBe(false);
    expect(nestsDeeperThan(nested(4), 3)).toBe(true);
    expect(nestsDeeperThan(Buffer.from('{"a":{"b":[{"c":1}]}}'), 4)).toBe(false);
    expect(nestsDeeperThan(Buffer.from('{"a":{"b":[{"c":1}]}}'), 3)).toBe(true);
  });

  it('counts depth, not the number of brackets', () => {
    const wide = Buffer.from(JSON.stringify({ messages: Array.from({ length: 1000 }, () => ({ content: [] })) }));
    expect(nestsDeeperThan(wide, 4)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ content: '[[[[{{{{ \\" ]] \\\\', next: ['"[[[['] });
    expect(deepest(text)).toBe(2);
    expect(nestsDeeperThan(Buffer.from(text), 2)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(text), 1)).toBe(true);
  });

  it('reads a string ending in an escaped backslash as ended', () => {
    const text = '{"a":"\\\\","b":[[["x"]]]}';
    expect(deepest(text)).toBe(4);
    expect(nestsDeeperThan(Buffer.from(text), 4)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(text), 3)).toBe(true);
  });

  it('agrees with JSON.parse on multi-byte text', () => {
    const text = JSON.stringify({ emoji: '🐼「[」', list: [[['ü']]] });
    expect(nestsDeeperThan(Buffer.from(text), deepest(text))).toBe(false);
    expect(nestsDeeperThan(Buffer.from(text), deepest(text) - 1)).toBe(true);
  });

  it('finds a million levels without parsing them', () => {
    expect(nestsDeeperThan(nested(1_000_000), 128)).toBe(true);
  });
});
