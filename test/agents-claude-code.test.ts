// Claude Code in print mode (`claude -p … --output-format json`, the pinned binary test/agents.ts
// installs) straight to the simulator and through the gateway's /anthropic route: the answer it
// prints, what reached the upstream, and one record per call with provider, model, end user, tokens, cost.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, type ReceivedRequest, startMockUpstream } from '../src/mock-upstream/server.js';
import { anthropicPrompt, expectedCost, recordsOf } from './agent-records.js';
import { provideAgent } from './agents.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

// Claude Code's default model, sent with adaptive thinking, output_config and a mid-conversation system message.
const MODEL = 'claude-opus-5-5';

/** The part of Claude Code's `--output-format json` result the tests read. */
interface ClaudeResult {
  type: string;
  subtype: string;
  is_error: boolean;
  result: string;
  num_turns: number;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
  };
}

let claude: string;
let home: string;
beforeAll(async () => {
  claude = await provideAgent('claude-code');
  home = await mkdtemp(join(tmpdir(), 'usage-panda-claude-'));
}, 300_000);
afterAll(() => rm(home, { recursive: true, force: true }));

/**
 * Runs `claude -p PROMPT --output-format json` against `baseUrl` with `apiKey`, in a temporary HOME, and
 * with every call that is not the API turned off: the machine reaches nothing but loopback.
 */
function claudePrint(baseUrl: string, apiKey: string, prompt: string): Promise<ClaudeResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: apiKey,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  const child = spawn(claude, ['-p', prompt, '--output-format', 'json', '--model', MODEL], {
    cwd: home,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(stdout) as ClaudeResult);
      } catch {
        reject(new Error(`claude exited ${code} without a JSON result: ${stdout}${stderr}`));
      }
    });
  });
}

/** The text of the last user message, which the simulator echoes. */
function lastUserText(request: ReceivedRequest): string {
  const body = request.json as { messages: { role: string; content: string | { type: string; text?: string }[] }[] };
  const last = body.messages.findLast((m) => m.role === 'user');
  if (!last) throw new Error('no user message');
  if (typeof last.content === 'string') return last.content;
  return last.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join(' ');
}

/** Claude Code's calls to the Messages API that the upstream received. */
const messageCalls = (mock: MockUpstream) => mock.requests.filter((r) => r.path === '/v1/messages');

/** What Claude Code sends that a gateway must take: the fields the symptom names. */
function expectClaudeCodeRequest(request: ReceivedRequest) {
  expect(request.method).toBe('POST');
  expect(request.query).toEqual({ beta: 'true' });
  expect(request.headers['anthropic-version']).toBe('2023-06-01');
  const body = request.json as Record<string, unknown> & { messages: { role: string }[]; system: unknown[] };
  expect(body).toMatchObject({
    model: MODEL,
    stream: true,
    thinking: { type: 'adaptive' },
    context_management: { edits: [{ type: 'clear_thinking_20251015' }] },
    output_config: { effort: expect.any(String) },
    metadata: { user_id: expect.any(String) },
  });
  expect(body.messages.map((m) => m.role)).toEqual(['user', 'system']);
  expect(body.system).toContainEqual(expect.objectContaining({ cache_control: { type: 'ephemeral' } }));
}

describe('Claude Code straight to the simulator', () => {
  let mock: MockUpstream;
  beforeAll(async () => {
    mock = await startMockUpstream({ port: 0 });
  });
  afterAll(() => mock.close());

  it('prints the simulator’s answer to `claude -p`, which takes Claude Code’s request as sent', async () => {
    const result = await claudePrint(new URL(mock.url).origin, `sk-ant-${fakeProviderKey()}`, 'say hi');
    const calls = messageCalls(mock);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    if (!call) throw new Error('no call');
    expectClaudeCodeRequest(call);
    expect(result).toMatchObject({ type: 'result', subtype: 'success', is_error: false, num_turns: 1 });
    expect(result.result).toBe(`Echo: ${lastUserText(call)}`);
    expect(result.result.endsWith(' say hi')).toBe(true);
    // The breakpoint on the last message makes the whole prompt a cache write on a first call.
    expect(result.usage.input_tokens).toBe(0);
    expect(result.usage.cache_creation_input_tokens).toBeGreaterThan(1000);
    expect(result.usage.cache_read_input_tokens).toBe(0);
  }, 60_000);
});

describe('Claude Code through /anthropic', () => {
  let stack: Stack;
  let connection: { id: string; key: string };
  const providerKey = `sk-ant-${fakeProviderKey()}`;
  beforeAll(async () => {
    stack = await startStack();
    // As the README sets it up: the Anthropic key stored with the connection's upstream.
    connection = await stack.createConnection({
      upstream: { provider: 'anthropic', baseUrl: new URL(stack.mock.url).origin, apiKey: providerKey },
    });
  });
  afterAll(() => stack?.close());

  it('answers `claude -p` with the up- key as ANTHROPIC_API_KEY, one record per call with tokens and cost', async () => {
    const first = await claudePrint(`${stack.gateway.url}/anthropic`, connection.key, 'say hi');
    // The result first: on an error it is the message Claude Code printed.
    expect(first.result).toMatch(/^Echo: /);
    expect(first).toMatchObject({ is_error: false, subtype: 'success' });
    // Each run writes its cache breakpoints (they reached upstream): Claude Code's first system
    // block carries a hash of the run's prompt, so a second run's prefix is a new one.
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(1000);
    const second = await claudePrint(`${stack.gateway.url}/anthropic`, connection.key, 'say hi again');
    expect(second.result).toMatch(/^Echo: /);
    expect(second).toMatchObject({ is_error: false, subtype: 'success' });
    expect(second.usage.cache_creation_input_tokens).toBeGreaterThan(1000);

    const calls = messageCalls(stack.mock);
    expect(calls).toHaveLength(2);
    const [firstCall, secondCall] = calls;
    if (!firstCall || !secondCall) throw new Error('no calls');
    for (const call of calls) {
      expectClaudeCodeRequest(call);
      expect(call.headers['x-api-key']).toBe(providerKey);
      expect(JSON.stringify(call.headers)).not.toContain(connection.key);
    }
    expect(first.result).toBe(`Echo: ${lastUserText(firstCall)}`);
    expect(second.result).toBe(`Echo: ${lastUserText(secondCall)}`);

    const records = await recordsOf(stack, connection.id);
    expect(records).toHaveLength(2);
    for (const [i, run] of [first, second].entries()) {
      const record = records[i];
      const call = calls[i];
      if (!record || !call) throw new Error('missing record');
      const userId = (call.json as { metadata: { user_id: string } }).metadata.user_id;
      expect(record).toMatchObject({
        endpoint: '/anthropic/v1/messages',
        provider: 'anthropic',
        model: MODEL,
        stream: true,
        status: 200,
        error: null,
        endUser: userId,
        promptTokens: anthropicPrompt(run.usage),
        completionTokens: run.usage.output_tokens,
        cachedTokens: run.usage.cache_read_input_tokens,
        usageEstimated: false,
      });
      expect(record.costUsd).toBeCloseTo(
        expectedCost('anthropic', MODEL, {
          input: anthropicPrompt(run.usage),
          output: run.usage.output_tokens,
          cacheRead: run.usage.cache_read_input_tokens,
          cacheWrite: run.usage.cache_creation_input_tokens,
        }),
        12,
      );
    }
  }, 120_000);
});
