// Codex CLI (`codex exec`, the pinned binary test/agents.ts installs) with a model provider whose
// base_url is the simulator, then the gateway: the answer it prints, what reached the upstream, and
// one record per call with provider, model, end user, tokens and cost.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, type ReceivedRequest, startMockUpstream } from '../src/mock-upstream/server.js';
import { expectedCost, recordsOf } from './agent-records.js';
import { provideAgent } from './agents.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

const MODEL = 'gpt-4.1-mini';
const END_USER = 'dev-alice';

/** The events of `codex exec --json` the tests read. */
type CodexEvent =
  | { type: 'item.completed'; item: { type: string; text?: string } }
  | {
      type: 'turn.completed';
      usage: {
        input_tokens: number;
        cached_input_tokens: number;
        output_tokens: number;
        reasoning_output_tokens: number;
      };
    }
  | { type: string };

let codex: string;
let dir: string;
beforeAll(async () => {
  codex = await provideAgent('codex');
  dir = await mkdtemp(join(tmpdir(), 'usage-panda-codex-'));
}, 300_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * The config.toml the README gives: a model provider at `baseUrl` (the gateway's `/v1`), its key read
 * from USAGE_PANDA_API_KEY, the Responses API, the end user as a header; no retries, so a call is a call.
 */
const configToml = (baseUrl: string) => `model = "${MODEL}"
model_provider = "usagepanda"

[model_providers.usagepanda]
name = "Usage Panda"
base_url = "${baseUrl}"
env_key = "USAGE_PANDA_API_KEY"
wire_api = "responses"
http_headers = { "x-usagepanda-user" = "${END_USER}" }
request_max_retries = 0
stream_max_retries = 0
`;

/** Runs `codex exec --json PROMPT` with a fresh CODEX_HOME whose provider is at `baseUrl`; its events. */
async function codexExec(name: string, baseUrl: string, apiKey: string, prompt: string): Promise<CodexEvent[]> {
  const home = join(dir, name);
  const work = join(home, 'work');
  await mkdir(work, { recursive: true });
  await writeFile(join(home, 'config.toml'), configToml(baseUrl));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CODEX_HOME: home, USAGE_PANDA_API_KEY: apiKey };
  const child = spawn(codex, ['exec', '--skip-git-repo-check', '--json', prompt], {
    cwd: work,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const events = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as CodexEvent);
  if (code !== 0) throw new Error(`codex exited ${code}: ${stdout}${stderr}`);
  return events;
}

const agentMessages = (events: CodexEvent[]) =>
  events.flatMap((e) => ('item' in e && e.item.type === 'agent_message' ? [e.item.text] : []));

function turnUsage(events: CodexEvent[]) {
  const done = events.find((e) => e.type === 'turn.completed');
  if (!done || !('usage' in done)) throw new Error('no turn.completed event');
  return done.usage;
}

/** What Codex sends to a Responses provider: a stream, stateless, with reasoning carried as encrypted content. */
function expectCodexRequest(request: ReceivedRequest, apiKey: string) {
  expect([request.method, request.path]).toEqual(['POST', '/v1/responses']);
  expect(request.headers.authorization).toBe(`Bearer ${apiKey}`);
  const body = request.json as { tools: { type: string }[] } & Record<string, unknown>;
  expect(body).toMatchObject({
    model: MODEL,
    stream: true,
    store: false,
    include: ['reasoning.encrypted_content'],
    tool_choice: 'auto',
    reasoning: expect.any(Object),
  });
  expect(body.tools.map((t) => t.type)).toContain('function');
}

const responseCalls = (mock: MockUpstream) => mock.requests.filter((r) => r.path === '/v1/responses');

describe('Codex straight to the simulator', () => {
  let mock: MockUpstream;
  beforeAll(async () => {
    mock = await startMockUpstream({ port: 0 });
  });
  afterAll(() => mock.close());

  it('finishes `codex exec` with the simulator’s answer, which takes Codex’s Responses request as sent', async () => {
    const apiKey = fakeProviderKey();
    const events = await codexExec('direct', mock.url, apiKey, 'say hi');
    expect(agentMessages(events)).toEqual(['Echo: say hi']);
    expect(events.at(-1)?.type).toBe('turn.completed');
    const calls = responseCalls(mock);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    if (!call) throw new Error('no call');
    expectCodexRequest(call, apiKey);
    expect(call.headers['x-usagepanda-user']).toBe(END_USER);
    // "say hi" answered in 3 words, after 4 words of reasoning.
    expect(turnUsage(events)).toMatchObject({ output_tokens: 7, reasoning_output_tokens: 4 });
  }, 90_000);
});

describe('Codex through /v1', () => {
  let stack: Stack;
  let connection: { id: string; key: string };
  const providerKey = fakeProviderKey();
  beforeAll(async () => {
    stack = await startStack();
    connection = await stack.createConnection({ providerKey });
  });
  afterAll(() => stack?.close());

  it('answers `codex exec` with the up- key as the provider key, one record per call with tokens and cost', async () => {
    const events = await codexExec('gateway', `${stack.gateway.url}/v1`, connection.key, 'say hi');
    expect(agentMessages(events)).toEqual(['Echo: say hi']);
    const usage = turnUsage(events);

    const calls = responseCalls(stack.mock);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    if (!call) throw new Error('no call');
    // The connection's provider key goes upstream, never the up- key, and the gateway's header is consumed.
    expectCodexRequest(call, providerKey);
    expect(call.headers['x-usagepanda-user']).toBeUndefined();

    const records = await recordsOf(stack, connection.id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      endpoint: '/responses',
      operation: 'response',
      provider: 'openai',
      model: MODEL,
      stream: true,
      status: 200,
      error: null,
      endUser: END_USER,
      promptTokens: usage.input_tokens,
      completionTokens: usage.output_tokens,
      reasoningTokens: usage.reasoning_output_tokens,
      usageEstimated: false,
    });
    expect(records[0]?.costUsd).toBeCloseTo(
      expectedCost('openai', MODEL, { input: usage.input_tokens, output: usage.output_tokens }),
      12,
    );
  }, 90_000);
});
