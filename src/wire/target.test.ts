import { describe, expect, it } from 'vitest';
import { readTarget } from './target.js';

const refusal = (url: string): string => {
  const target = readTarget(url);
  if (target.ok) throw new Error(`expected ${url} to be refused`);
  return target.reason;
};
const pathOf = (url: string): string => {
  const target = readTarget(url);
  if (!target.ok) throw new Error(`${url}: ${target.reason}`);
  return target.path;
};

describe('the request target', () => {
  it('strips the version prefix and keeps the query as sent', () => {
    expect(readTarget('/v1/chat/completions?a=%2F&b=..')).toEqual({
      ok: true,
      path: '/chat/completions',
      query: '?a=%2F&b=..',
    });
    expect(pathOf('/v1')).toBe('/');
    expect(pathOf('/chat/completions')).toBe('/chat/completions');
  });

  it('collapses repeated slashes, before and after the version prefix', () => {
    expect(pathOf('/v1//chat/completions')).toBe('/chat/completions');
    expect(pathOf('//v1///chat//completions')).toBe('/chat/completions');
  });

  it('resolves dot segments below /v1', () => {
    expect(pathOf('/v1/./chat/./completions')).toBe('/chat/completions');
    expect(pathOf('/v1/models/../chat/completions')).toBe('/chat/completions');
    expect(pathOf('/v1/x/%2e%2E/chat/completions')).toBe('/chat/completions');
    expect(pathOf('/healthz/../v1/chat/completions')).toBe('/chat/completions');
    expect(pathOf('/x/../v1')).toBe('/');
  });

  it('decodes percent-encoded unreserved characters and keeps other escapes', () => {
    expect(pathOf('/v1/%63hat/%63ompletions')).toBe('/chat/completions');
    expect(pathOf('/%761/chat/completions')).toBe('/chat/completions');
    expect(pathOf('/v1/models/ft%3amy%20model')).toBe('/models/ft%3Amy%20model');
  });

  it('keeps one trailing slash', () => {
    expect(pathOf('/v1/chat/completions//')).toBe('/chat/completions/');
  });

  it('refuses an encoded slash, a backslash, a bad escape and a climb above /v1', () => {
    expect(refusal('/v1/chat%2Fcompletions')).toBe('request path must not contain an encoded slash');
    expect(refusal('/v1/chat%2fcompletions')).toBe('request path must not contain an encoded slash');
    expect(refusal('/v1/chat%5Ccompletions')).toBe('request path must not contain an encoded slash');
    expect(refusal('/v1/chat\\completions')).toBe('request path must not contain a backslash');
    expect(refusal('/v1/chat%zzcompletions')).toBe('request path has an invalid percent-encoding');
    expect(refusal('/v1/../api/connections')).toBe('request path must not climb above /v1');
    expect(refusal('/v1/models/../../x')).toBe('request path must not climb above /v1');
  });
});
