import OpenAI from 'openai';
import type {
  Response as OpenAiResponse,
  ResponseCreateParamsNonStreaming,
  ResponseCreateParamsStreaming,
  ResponseStreamEvent,
  ResponseUsage,
  Tool,
} from 'openai/resources/responses/responses';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { GatewayError } from '../../errors.js';
import type { Json } from '../../wire/json.js';
import { type ChatBridge, ChatChunks } from '../provider.js';
import { responsesBridge } from './index.js';

/** The request typed as the openai SDK sends it, so every fixture is a real Responses request. */
const request = (body: ResponseCreateParamsNonStreaming | ResponseCreateParamsStreaming) => body as unknown as Json;

function chatOf(body: Json, endUser?: string): Json {
  return responsesBridge().chatRequest(body, endUser);
}

function refusal(body: Json): string {
  try {
    chatOf(body);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).status).toBe(400);
    return (err as GatewayError).message;
  }
  throw new Error('expected a 400');
}

const APPLY_PATCH = {
  type: 'custom',
  name: 'apply_patch',
  description: 'Edit files.',
  format: { type: 'grammar', syntax: 'lark', definition: 'start: "*** Begin Patch"' },
} as const;

describe('the request as a chat completion', () => {
  it('writes instructions as the system message and a string input as the user message', () => {
    expect(chatOf(request({ model: 'claude-sonnet-4-5', instructions: 'Be brief.', input: 'Hi' }))).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
    });
  });

  it('maps message items of every role and their content parts', () => {
    const chat = chatOf(
      request({
        model: 'm',
        input: [
          { role: 'developer', content: [{ type: 'input_text', text: 'Rules.' }] },
          { role: 'system', content: 'Sys.' },
          {
            type: 'message',
            role: 'user',
            content: [
              { type: 'input_text', text: 'Look:' },
              { type: 'input_image', image_url: 'data:image/png;base64,AAA', detail: 'low' },
              { type: 'input_image', image_url: 'https://x/y.png', detail: 'original' },
            ],
          },
          {
            type: 'message',
            role: 'assistant',
            id: 'msg_1',
            status: 'completed',
            content: [
              { type: 'output_text', text: 'A cat', annotations: [] },
              { type: 'refusal', refusal: 'No more.' },
            ],
          },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'developer', content: 'Rules.' },
      { role: 'system', content: 'Sys.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://x/y.png' } },
        ],
      },
      { role: 'assistant', content: 'A cat', refusal: 'No more.' },
    ]);
  });

  it('merges function calls into the assistant turn before them and writes outputs as tool messages', () => {
    const chat = chatOf(
      request({
        model: 'm',
        input: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAA' },
          { role: 'assistant', content: 'Checking.' },
          { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call', call_id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' },
          { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
          { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'rain' }] },
          { type: 'function_call', call_id: 'call_3', name: 'weather', arguments: '{}' },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'weather', arguments: '{}' } }],
      },
    ]);
  });

  it('sends a custom tool as a function of one string argument, its grammar in the description', () => {
    const chat = chatOf(
      request({
        model: 'm',
        input: [
          { role: 'user', content: 'Fix it' },
          { type: 'custom_tool_call', call_id: 'call_9', name: 'apply_patch', input: '*** Begin Patch' },
          { type: 'custom_tool_call_output', call_id: 'call_9', output: 'Done' },
        ],
        tools: [APPLY_PATCH],
        tool_choice: { type: 'custom', name: 'apply_patch' },
      }),
    );
    expect(chat.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'apply_patch',
          description: 'Edit files.',
          parameters: {
            type: 'object',
            properties: {
              input: {
                type: 'string',
                description: 'The tool\'s raw input, written in this lark grammar:\nstart: "*** Begin Patch"',
              },
            },
            required: ['input'],
            additionalProperties: false,
          },
        },
      },
    ]);
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'apply_patch' } });
    expect(chat.messages).toEqual([
      { role: 'user', content: 'Fix it' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_9',
            type: 'function',
            function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_9', content: 'Done' },
    ]);
  });

  it('maps tools, tool choice, sampling, caps, output format, reasoning, user and stream', () => {
    const chat = chatOf(
      request({
        model: 'm',
        input: 'Hi',
        stream: true,
        store: false,
        include: ['reasoning.encrypted_content'],
        truncation: 'auto',
        tools: [
          {
            type: 'function',
            name: 'weather',
            description: 'Weather',
            parameters: { type: 'object', properties: {} },
            strict: true,
          },
        ],
        tool_choice: 'required',
        parallel_tool_calls: false,
        max_output_tokens: 300,
        temperature: 0.2,
        top_p: 0.9,
        top_logprobs: 2,
        text: {
          format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
          verbosity: 'low',
        },
        reasoning: { effort: 'high', summary: 'auto' },
        metadata: { team: 'a' },
        safety_identifier: 'hash-1',
        prompt_cache_key: 'k',
        service_tier: 'auto',
      }),
    );
    expect(chat).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.2,
      top_p: 0.9,
      parallel_tool_calls: false,
      metadata: { team: 'a' },
      service_tier: 'auto',
      prompt_cache_key: 'k',
      safety_identifier: 'hash-1',
      max_completion_tokens: 300,
      logprobs: true,
      top_logprobs: 2,
      reasoning_effort: 'high',
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      verbosity: 'low',
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            description: 'Weather',
            parameters: { type: 'object', properties: {} },
            strict: true,
          },
        },
      ],
      tool_choice: 'required',
      user: 'hash-1',
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('takes json_object, allowed_tools, and the end user from the gateway header when the body names none', () => {
    const chat = chatOf(
      request({
        model: 'm',
        input: 'Hi',
        text: { format: { type: 'json_object' } },
        tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'a' }] },
      }),
      'alice',
    );
    expect(chat.response_format).toEqual({ type: 'json_object' });
    expect(chat.tool_choice).toEqual({
      type: 'allowed_tools',
      allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'a' } }] },
    });
    expect(chat.user).toBe('alice');
    expect(chatOf(request({ model: 'm', input: 'Hi', user: 'bob' }), 'alice').user).toBe('bob');
  });

  it('translates a Codex turn: developer rules, reasoning dropped, shell and apply_patch calls with their outputs', () => {
    // The request as Codex (codex-rs ResponsesApiRequest) sends it on its second model call of a turn.
    const shell: Tool = {
      type: 'function',
      name: 'shell',
      description: 'Runs a shell command',
      strict: false,
      parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } } } },
    };
    const chat = chatOf(
      request({
        model: 'claude-sonnet-4-5',
        instructions: 'You are Codex.',
        input: [
          { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions/>' }] },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Fix the test' }] },
          {
            type: 'reasoning',
            id: 'rs_1',
            summary: [{ type: 'summary_text', text: 'Look first' }],
            encrypted_content: 'gAAA',
          },
          { type: 'function_call', name: 'shell', arguments: '{"command":["ls"]}', call_id: 'call_a' },
          { type: 'function_call_output', call_id: 'call_a', output: 'a.ts' },
          {
            type: 'custom_tool_call',
            call_id: 'call_b',
            name: 'apply_patch',
            input: '*** Begin Patch',
          },
          { type: 'custom_tool_call_output', call_id: 'call_b', output: 'Success' },
        ],
        tools: [shell, APPLY_PATCH],
        tool_choice: 'auto',
        parallel_tool_calls: false,
        reasoning: { effort: 'medium', summary: 'auto' },
        store: false,
        stream: true,
        include: ['reasoning.encrypted_content'],
        prompt_cache_key: 'conv-1',
        text: { verbosity: 'medium' },
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'system', content: 'You are Codex.' },
      { role: 'developer', content: '<permissions/>' },
      { role: 'user', content: [{ type: 'text', text: 'Fix the test' }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'shell', arguments: '{"command":["ls"]}' } }],
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'a.ts' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_b',
            type: 'function',
            function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_b', content: 'Success' },
    ]);
    expect((chat.tools as Json[]).map((tool) => (tool.function as Json).name)).toEqual(['shell', 'apply_patch']);
    expect(chat).toMatchObject({
      tool_choice: 'auto',
      parallel_tool_calls: false,
      reasoning_effort: 'medium',
      verbosity: 'medium',
      prompt_cache_key: 'conv-1',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(chat).not.toHaveProperty('store');
  });

  it('refuses what only OpenAI has, naming the field', () => {
    const base = { model: 'm', input: 'Hi' };
    expect(refusal(request({ ...base, previous_response_id: 'resp_1' }))).toBe(
      'Usage Panda: previous_response_id: this target keeps no stored responses; send the whole conversation in input',
    );
    expect(refusal(request({ ...base, conversation: 'conv_1' }))).toBe(
      'Usage Panda: conversation: this target keeps no conversations; send the whole conversation in input',
    );
    expect(refusal(request({ ...base, prompt: { id: 'pmpt_1' } }))).toBe(
      'Usage Panda: prompt: stored prompt templates live at OpenAI; send instructions and input instead',
    );
    expect(refusal(request({ ...base, background: true }))).toBe(
      'Usage Panda: background: background responses run at OpenAI; this target answers in the foreground only',
    );
    expect(refusal(request({ ...base, tools: [APPLY_PATCH, { type: 'web_search' }] }))).toBe(
      'Usage Panda: tools.1.type: web_search is a tool OpenAI runs itself; this target can call function and custom tools only',
    );
    const hosted: Tool[] = [
      { type: 'file_search', vector_store_ids: ['vs_1'] },
      { type: 'code_interpreter', container: { type: 'auto' } },
      { type: 'computer_use_preview', display_height: 1, display_width: 1, environment: 'linux' },
      { type: 'mcp', server_label: 's' },
      { type: 'image_generation' },
      { type: 'local_shell' },
    ];
    for (const tool of hosted) {
      expect(refusal(request({ ...base, tools: [tool] }))).toBe(
        `Usage Panda: tools.0.type: ${tool.type} is a tool OpenAI runs itself; this target can call function and custom tools only`,
      );
    }
    expect(refusal(request({ ...base, tool_choice: { type: 'web_search_preview' } }))).toBe(
      'Usage Panda: tool_choice.type: web_search_preview chooses a tool OpenAI runs itself; this target can call function and custom tools only',
    );
  });

  it('refuses input the chat format cannot carry, naming the item', () => {
    expect(refusal(request({ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] }))).toBe(
      'Usage Panda: input.0: item_reference points at an item OpenAI stored; send the item itself',
    );
    expect(
      refusal(
        request({
          model: 'm',
          input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1', detail: 'auto' }] }],
        }),
      ),
    ).toBe(
      "Usage Panda: input.0.content.0.file_id: files stored at OpenAI cannot be read by this target; send the file's data instead",
    );
    expect(
      refusal(
        request({
          model: 'm',
          input: [
            {
              type: 'function_call_output',
              call_id: 'c',
              output: [{ type: 'input_image', image_url: 'https://x', detail: 'auto' }],
            },
          ],
        }),
      ),
    ).toBe('Usage Panda: input.0.output.0: a tool output reaches this target as text only');
    expect(
      refusal(
        request({
          model: 'm',
          input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'https://x', detail: 'auto' }] }],
        }),
      ),
    ).toBe('Usage Panda: input.0.content.0: a system message carries text only');
    expect(
      refusal(
        request({
          model: 'm',
          input: [{ type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } }],
        }),
      ),
    ).toBe(
      'Usage Panda: input.0.type: web_search_call is not supported by this target (message, function_call, function_call_output, custom_tool_call, custom_tool_call_output and reasoning are)',
    );
    expect(refusal({ input: 'Hi' })).toBe('Usage Panda: model: a model name is required');
    expect(refusal({ model: 'm' })).toBe('Usage Panda: input: a string or an array of input items is required');
  });
});

const COMPLETION = {
  id: 'chatcmpl-abc',
  object: 'chat.completion',
  created: 1_765_000_000,
  model: 'claude-sonnet-4-5',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Let me check.',
        refusal: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          {
            id: 'call_2',
            type: 'function',
            function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' },
          },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    },
  ],
  usage: {
    prompt_tokens: 20,
    completion_tokens: 10,
    total_tokens: 30,
    prompt_tokens_details: { cached_tokens: 5 },
    completion_tokens_details: { reasoning_tokens: 3 },
  },
};

const USAGE: ResponseUsage = {
  input_tokens: 20,
  input_tokens_details: { cached_tokens: 5, cache_write_tokens: 0 },
  output_tokens: 10,
  output_tokens_details: { reasoning_tokens: 3 },
  total_tokens: 30,
};

function bridgeFor(body: Json): ChatBridge {
  const bridge = responsesBridge();
  bridge.chatRequest(body, undefined);
  return bridge;
}

const TOOLS: Tool[] = [{ type: 'function', name: 'weather', parameters: null, strict: null }, APPLY_PATCH];

const TOOLS_REQUEST = request({ model: 'claude', instructions: 'Be brief.', input: 'Weather?', tools: TOOLS });

describe('the chat answer as a response', () => {
  it('writes text, function calls and custom tool calls as output items, with usage and the request echoed', () => {
    expect(bridgeFor(TOOLS_REQUEST).answer(COMPLETION)).toEqual({
      id: 'resp_chatcmpl-abc',
      object: 'response',
      created_at: 1_765_000_000,
      status: 'completed',
      background: false,
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      max_output_tokens: null,
      metadata: {},
      model: 'claude-sonnet-4-5',
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      temperature: null,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: TOOLS,
      top_p: null,
      truncation: 'disabled',
      output: [
        {
          id: 'msg_chatcmpl-abc',
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Let me check.' }],
        },
        {
          id: 'fc_call_1',
          type: 'function_call',
          status: 'completed',
          arguments: '{"city":"Paris"}',
          call_id: 'call_1',
          name: 'weather',
        },
        {
          id: 'ctc_call_2',
          type: 'custom_tool_call',
          call_id: 'call_2',
          name: 'apply_patch',
          input: '*** Begin Patch',
        },
      ],
      usage: USAGE,
      // The exact answer is also a `Response` as the openai SDK types it (output_text is the SDK's own).
    } satisfies Omit<OpenAiResponse, 'output_text'>);
  });

  it('is incomplete when the chat answer stopped at its token cap or its content filter', () => {
    const stopped = (finish_reason: string) =>
      bridgeFor(request({ model: 'm', input: 'Hi' })).answer({
        ...COMPLETION,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Par' }, finish_reason }],
      });
    const length = stopped('length');
    expect(length.status).toBe('incomplete');
    expect(length.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect((length.output as Json[])[0]?.status).toBe('incomplete');
    expect(stopped('content_filter').incomplete_details).toEqual({ reason: 'content_filter' });
  });

  it('writes errors in OpenAI error shape', () => {
    expect(responsesBridge().error(429, 'slow down')).toEqual({
      error: { message: 'slow down', type: 'rate_limit_error', param: null, code: null },
    });
  });
});

/** A chat stream as the gateway's adapters write it. */
function chatStream(write: (chunks: ChatChunks) => void): string {
  const chunks = new ChatChunks('chatcmpl-s1', 'claude-sonnet-4-5', true);
  write(chunks);
  return chunks.take();
}

const TOOL_STREAM = chatStream((c) => {
  c.delta({ role: 'assistant', content: '' });
  c.delta({ content: 'Let me ' });
  c.delta({ content: 'check.' });
  c.delta({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } }] });
  c.delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] });
  c.delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] });
  c.delta({
    tool_calls: [
      { index: 1, id: 'call_2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":' } },
    ],
  });
  c.delta({ tool_calls: [{ index: 1, function: { arguments: '"*** Begin Patch"}' } }] });
  c.delta({}, 'tool_calls');
  c.finish(COMPLETION.usage);
});

/** The bridge's output for a chat stream fed in pieces of `size` characters. */
function translate(body: Json, chat: string, size = chat.length): string {
  const stream = bridgeFor(body).stream();
  let out = '';
  for (let i = 0; i < chat.length; i += size) out += stream.push(chat.slice(i, i + size));
  return out + stream.end();
}

function events(sse: string): Json[] {
  return sse
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const [event, data] = block.split('\n');
      const json = JSON.parse((data ?? '').slice('data: '.length)) as Json;
      expect(event).toBe(`event: ${String(json.type)}`);
      return json;
    });
}

/** The stream read by the openai SDK's own Responses stream helper. */
async function sdkFinal(sse: string): Promise<OpenAiResponse> {
  const client = new OpenAI({
    apiKey: 'test',
    baseURL: 'http://gateway.test/v1',
    fetch: async () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }),
  });
  return client.responses.stream({ model: 'claude', input: 'Weather?' }).finalResponse();
}

describe('the chat stream as Responses events', () => {
  it('sends the Responses event sequence, numbered, for text and tool calls', () => {
    const out = events(translate(TOOLS_REQUEST, TOOL_STREAM));
    expect(out.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.output_item.added',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.custom_tool_call_input.delta',
      'response.custom_tool_call_input.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(out.map((e) => e.sequence_number)).toEqual(out.map((_, i) => i));
    expect(out[4]).toEqual({
      type: 'response.output_text.delta',
      sequence_number: 4,
      item_id: 'msg_chatcmpl-s1',
      output_index: 0,
      content_index: 0,
      delta: 'Let me ',
      logprobs: [],
    } satisfies ResponseStreamEvent);
    expect(out[13]).toEqual({
      type: 'response.function_call_arguments.done',
      sequence_number: 13,
      item_id: 'fc_call_1',
      output_index: 1,
      name: 'weather',
      arguments: '{"city":"Paris"}',
    } satisfies ResponseStreamEvent);
    const completed = out.at(-1)?.response as Json;
    expect(completed.status).toBe('completed');
    expect(completed.usage).toEqual(USAGE);
    expect(completed.instructions).toBe('Be brief.');
  });

  it('writes the same events whatever pieces the chat stream arrives in', () => {
    const whole = translate(TOOLS_REQUEST, TOOL_STREAM);
    const strip = (sse: string) => sse.replace(/"created_at":\d+/g, '');
    for (const size of [1, 3, 17, 64]) expect(strip(translate(TOOLS_REQUEST, TOOL_STREAM, size))).toBe(strip(whole));
  });

  it('is read by the openai SDK into the same response the JSON answer gives', async () => {
    const final = await sdkFinal(translate(TOOLS_REQUEST, TOOL_STREAM));
    expect(final.output_text).toBe('Let me check.');
    const json = bridgeFor(TOOLS_REQUEST).answer({ ...COMPLETION, id: 'chatcmpl-s1' });
    // The SDK's helper adds `parsed` fields of its own; everything the gateway sent is as in the JSON answer.
    expect(final.output).toMatchObject(json.output as Json[]);
    expect(final.output).toHaveLength(3);
    expect(final.usage).toEqual(USAGE);
    expectTypeOf(final).toEqualTypeOf<OpenAiResponse>();
  });

  it('ends with response.incomplete when the chat stream stopped at its token cap', () => {
    const chat = chatStream((c) => {
      c.delta({ content: 'Par' }, 'length');
      c.finish(null);
    });
    const out = events(translate(request({ model: 'm', input: 'Hi', max_output_tokens: 1 }), chat));
    const last = out.at(-1) as Json;
    expect(last.type).toBe('response.incomplete');
    expect((last.response as Json).incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect((last.response as Json).max_output_tokens).toBe(1);
    expect(((last.response as Json).output as Json[])[0]?.status).toBe('incomplete');
  });

  it('turns an error event into an error event and response.failed', () => {
    const chat = `${chatStream((c) => c.delta({ content: 'Hel' }))}data: {"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}\n\n`;
    const out = events(translate(request({ model: 'm', input: 'Hi' }), chat));
    expect(out.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'error',
      'response.failed',
    ]);
    expect(out[5]).toEqual({
      type: 'error',
      sequence_number: 5,
      code: 'server_error',
      message: 'overloaded',
      param: null,
    } satisfies ResponseStreamEvent);
    const failed = out[6]?.response as Json;
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ code: 'server_error', message: 'overloaded' });
  });

  it('still opens the response when the chat stream fails before its first chunk', () => {
    const out = events(
      translate(
        request({ model: 'm', input: 'Hi' }),
        'data: {"error":{"message":"rate limited","type":"rate_limit_exceeded"}}\n\n',
      ),
    );
    expect(out.map((e) => e.type)).toEqual(['response.created', 'response.in_progress', 'error', 'response.failed']);
    expect(out[2]?.code).toBe('rate_limit_exceeded');
  });

  it('reaches an SDK client as the failed response', async () => {
    const chat = 'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n';
    await expect(sdkFinal(translate(request({ model: 'm', input: 'Hi' }), chat))).rejects.toThrow('overloaded');
  });
});
