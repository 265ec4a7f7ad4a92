// The OpenAI Agents SDK (`@openai/agents`) running an agent with a tool against the simulator, then
// through the gateway's /v1: the final output, the tool's call, and one record per model call with
// provider, model, end user, tokens and cost — plain and streamed runs.
import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.js';
import { expectedCost, recordsOf } from './agent-records.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

const MODEL = 'gpt-4.1-mini';
const END_USER = 'agent-user-1';

// Traces would go to OpenAI; the machine reaches only loopback.
setTracingDisabled(true);

/** An agent whose first turn must call `lookup` (the simulator calls it with `{echo: <prompt>}`). */
function lookupAgent(looked: string[]) {
  const lookup = tool({
    name: 'lookup',
    description: 'Looks a word up',
    parameters: z.object({ echo: z.string() }),
    execute: async ({ echo }) => {
      looked.push(echo);
      return 'a bear';
    },
  });
  return new Agent({
    name: 'Panda finder',
    instructions: 'Find the animal.',
    model: MODEL,
    tools: [lookup],
    modelSettings: { toolChoice: 'required', providerData: { safety_identifier: END_USER } },
  });
}

const runner = (baseURL: string, apiKey: string) =>
  new Runner({ modelProvider: new OpenAIProvider({ apiKey, baseURL, useResponses: true }), tracingDisabled: true });

type Usages = { input: number; output: number }[];

/** One agent run, plain or streamed: its final output, the tool's inputs, and each model call's usage. */
async function runAgent(baseURL: string, apiKey: string, stream: boolean) {
  const looked: string[] = [];
  const agent = lookupAgent(looked);
  const result = stream
    ? await runner(baseURL, apiKey)
        .run(agent, 'find panda', { stream: true })
        .then(async (streamed) => {
          await streamed.completed;
          return streamed;
        })
    : await runner(baseURL, apiKey).run(agent, 'find panda');
  const usages: Usages = result.rawResponses.map((r) => ({ input: r.usage.inputTokens, output: r.usage.outputTokens }));
  return { output: result.finalOutput, looked, usages };
}

const responseCalls = (mock: MockUpstream) => mock.requests.filter((r) => r.path === '/v1/responses');

/** The two calls of a run: the tool call demanded, then the tool's output sent back and answered. */
function expectToolRun(mock: MockUpstream, stream: boolean) {
  const calls = responseCalls(mock).map(
    (r) => r.json as Record<string, unknown> & { input: { type?: string; role?: string }[] },
  );
  expect(calls).toHaveLength(2);
  const [first, second] = calls;
  expect(first).toMatchObject({
    model: MODEL,
    instructions: 'Find the animal.',
    tool_choice: 'required',
    tools: [{ type: 'function', name: 'lookup' }],
    safety_identifier: END_USER,
  });
  expect(Boolean(first?.stream)).toBe(stream);
  expect(second?.input.map((item) => item.type ?? item.role)).toEqual([
    'user',
    'function_call',
    'function_call_output',
  ]);
  expect(second?.input.at(-1)).toMatchObject({ type: 'function_call_output', output: 'a bear' });
}

describe('the Agents SDK straight to the simulator', () => {
  let mock: MockUpstream;
  beforeAll(async () => {
    mock = await startMockUpstream({ port: 0 });
  });
  afterAll(() => mock.close());

  for (const stream of [false, true]) {
    it(`finishes a ${stream ? 'streamed' : 'plain'} run that calls a tool, with the simulator’s answer`, async () => {
      mock.reset();
      const run = await runAgent(mock.url, fakeProviderKey(), stream);
      expect(run.looked).toEqual(['find panda']);
      expect(run.output).toBe('Echo: tool result: a bear');
      expectToolRun(mock, stream);
    });
  }
});

describe('the Agents SDK through /v1', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  for (const stream of [false, true]) {
    it(`records each model call of a ${stream ? 'streamed' : 'plain'} tool run: provider, model, end user, tokens, cost`, async () => {
      const providerKey = fakeProviderKey();
      const connection = await stack.createConnection({ providerKey });
      stack.mock.reset();
      const run = await runAgent(`${stack.gateway.url}/v1`, connection.key, stream);
      expect(run.looked).toEqual(['find panda']);
      expect(run.output).toBe('Echo: tool result: a bear');
      expectToolRun(stack.mock, stream);
      for (const call of responseCalls(stack.mock)) expect(call.headers.authorization).toBe(`Bearer ${providerKey}`);

      const records = await recordsOf(stack, connection.id);
      expect(records).toHaveLength(2);
      for (const [i, usage] of run.usages.entries()) {
        expect(records[i]).toMatchObject({
          endpoint: '/responses',
          operation: 'response',
          provider: 'openai',
          model: MODEL,
          stream,
          status: 200,
          endUser: END_USER,
          promptTokens: usage.input,
          completionTokens: usage.output,
          usageEstimated: false,
        });
        expect(records[i]?.costUsd).toBeCloseTo(expectedCost('openai', MODEL, usage), 12);
      }
    });
  }
});
