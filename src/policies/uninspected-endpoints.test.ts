import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, PolicySettingsPatchSchema } from '../policy-settings.js';
import { hasContentPolicy, isUnder } from './uninspected-endpoints.js';

describe('uninspected endpoints', () => {
  it('matches a passthrough prefix segment by segment', () => {
    expect(isUnder('/assistants', '/assistants')).toBe(true);
    expect(isUnder('/assistants/asst_1/files', '/assistants')).toBe(true);
    expect(isUnder('/assistantsx', '/assistants')).toBe(false);
    expect(isUnder('/anything', '/')).toBe(true);
  });

  it('counts every setting that reads the request or its answer as a content policy, and no other', () => {
    expect(hasContentPolicy(DEFAULT_POLICY)).toBe(false);
    expect(hasContentPolicy({ ...DEFAULT_POLICY, retryCount: 3, logRequestBody: true })).toBe(false);
    for (const patch of [
      { enforceUserIds: true },
      { maxTokens: 10 },
      { maxPromptChars: 10 },
      { blockedModels: ['gpt-4'] },
      { allowedModels: ['gpt-4o-mini'] },
      { autoModerate: true },
      { requestWordlists: { dan: 'audit' as const } },
      { responseWordlists: { profanity: 'redact' as const } },
      { promptReflection: 'audit' as const },
    ]) {
      expect(hasContentPolicy({ ...DEFAULT_POLICY, ...patch })).toBe(true);
    }
  });

  it('takes passthrough paths below /v1, with or without the prefix, and refuses anything else', () => {
    const parse = (paths: string[]) => PolicySettingsPatchSchema.safeParse({ passthroughPaths: paths });
    expect(parse(['/v1/assistants/', '/threads', ' /vector_stores ']).data?.passthroughPaths).toEqual([
      '/assistants',
      '/threads',
      '/vector_stores',
    ]);
    expect(parse(['/v1']).data?.passthroughPaths).toEqual(['/']);
    expect(parse(['assistants']).error?.issues[0]?.message).toBe(
      'must be a path such as /assistants (letters, digits, -, ., _, ~ and /)',
    );
    expect(parse(['/a/../b']).error?.issues[0]?.message).toBe('must not contain ".."');
    expect(parse(['/a?b']).success).toBe(false);
  });
});
