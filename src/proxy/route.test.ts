import { describe, expect, it } from 'vitest';
import { isVersionPath } from './route.js';

describe('the paths the server hands to the proxy without routing', () => {
  it('takes /v1 and what is below it, with or without a query', () => {
    for (const url of ['/v1', '/v1/', '/v1/chat/completions', '/v1?x=1', '/v1/models?limit=2']) {
      expect(isVersionPath(url), url).toBe(true);
    }
  });

  it('leaves every other path to Fastify (the dashboard, the admin API, /v10, /v1x)', () => {
    for (const url of ['/', '/api/logs', '/assets/index.js', '/v10/chat', '/v1x', '/chat/completions', undefined]) {
      expect(isVersionPath(url), String(url)).toBe(false);
    }
  });
});
