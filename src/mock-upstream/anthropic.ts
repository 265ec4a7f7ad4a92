// The simulator's Anthropic Messages API (`POST /v1/messages`): echoes the last user text, calls
// a tool when tool_choice demands one, reports usage as word counts, and streams Anthropic's events.

type Json = Record<string, unknown>;

/** What the server sends: a JSON answer with its status, or a list of SSE events. */
export type MockAnswer = { status: number; json: unknown } | { status: 200; events: string[] };

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function anthropicError(status: number, type: string, message: string): MockAnswer {
  return { status, json: { type: 'error', error: { type, message } } };
}

function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      if (!isObject(block)) return '';
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      if (block.type === 'tool_result') return `tool result: ${blocksText(block.content)}`;
      return '';
    })
    .filter((t) => t !== '')
    .join(' ');
}

/** The tool the answer calls: the one tool_choice names, the first for `any`, none otherwise. */
function calledTool(params: Json): string | null {
  const tools = Array.isArray(params.tools) ? params.tools.filter(isObject) : [];
  const choice = isObject(params.tool_choice) ? params.tool_choice : null;
  if (tools.length === 0 || !choice) return null;
  if (choice.type === 'tool' && typeof choice.name === 'string') return choice.name;
  if (choice.type === 'any') return typeof tools[0]?.name === 'string' ? tools[0].name : null;
  return null;
}

export function anthropicMessages(
  params: Json,
  headers: Record<string, string | string[] | undefined>,
  seq: number,
  words: (text: string) => number,
  pieces: (text: string) => string[],
): MockAnswer {
  if (!headers['x-api-key']) return anthropicError(401, 'authentication_error', 'x-api-key header is required');
  if (!headers['anthropic-version']) {
    return anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required');
  }
  if (typeof params.model !== 'string' || params.model === '') {
    return anthropicError(400, 'invalid_request_error', 'model: Field required');
  }
  if (typeof params.max_tokens !== 'number') {
    return anthropicError(400, 'invalid_request_error', 'max_tokens: Field required');
  }
  if (!Array.isArray(params.messages) || params.messages.length === 0) {
    return anthropicError(400, 'invalid_request_error', 'messages: Field required');
  }
  let inputTokens = typeof params.system === 'string' ? words(params.system) : words(blocksText(params.system));
  let lastUser = '';
  for (const message of params.messages) {
    if (!isObject(message)) continue;
    const text = blocksText(message.content);
    inputTokens += words(text);
    if (message.role === 'user') lastUser = text;
  }
  const id = `msg_mock${seq}`;
  const model = params.model;
  const tool = calledTool(params);
  const answer = `Echo: ${lastUser}`;
  const toolInput = { echo: lastUser };
  const outputTokens = tool ? words(JSON.stringify(toolInput)) : words(answer);
  const usage = {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
  };
  const stopReason = tool ? 'tool_use' : 'end_turn';

  if (params.stream !== true) {
    const content = tool
      ? [{ type: 'tool_use', id: `toolu_mock${seq}`, name: tool, input: toolInput }]
      : [{ type: 'text', text: answer }];
    return {
      status: 200,
      json: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      },
    };
  }

  const event = (data: Json) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
  const events = [
    event({
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
  ];
  if (tool) {
    events.push(
      event({
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: `toolu_mock${seq}`, name: tool, input: {} },
      }),
    );
    const json = JSON.stringify(toolInput);
    const half = Math.floor(json.length / 2);
    for (const partial of [json.slice(0, half), json.slice(half)]) {
      events.push(
        event({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: partial } }),
      );
    }
  } else {
    events.push(event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    events.push(event({ type: 'ping' }));
    for (const text of pieces(answer)) {
      events.push(event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }));
    }
  }
  events.push(event({ type: 'content_block_stop', index: 0 }));
  events.push(
    event({
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    }),
  );
  events.push(event({ type: 'message_stop' }));
  return { status: 200, events };
}
