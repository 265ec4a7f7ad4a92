// The simulator's Amazon Bedrock Converse API: `/model/{modelId}/converse` answers JSON and
// `/converse-stream` the binary event stream; both refuse a request without a well-formed
// SigV4 signature (the signature itself is not recomputed: the mock knows no secret).
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const array = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

export const BEDROCK_PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;

const SIGNATURE =
  /^AWS4-HMAC-SHA256 Credential=[A-Za-z0-9]+\/\d{8}\/[a-z0-9-]+\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/;

export type BedrockAnswer =
  | { status: number; json: unknown; errorType?: string }
  | { status: 200; frames: Uint8Array[] };

/** Why a request is not signed as SigV4 requires, or null when it is well formed. */
export function signatureProblem(headers: Record<string, string | string[] | undefined>): string | null {
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return 'Missing Authentication Token';
  if (!SIGNATURE.test(authorization)) return 'Authorization header is not a well-formed SigV4 signature';
  const date = headers['x-amz-date'];
  if (typeof date !== 'string' || !/^\d{8}T\d{6}Z$/.test(date)) return 'x-amz-date header is missing or malformed';
  return null;
}

function blocksText(content: unknown): string {
  return array(content)
    .map((block) => {
      if (!isObject(block)) return '';
      if (typeof block.text === 'string') return block.text;
      if (isObject(block.toolResult)) return `tool result: ${blocksText(block.toolResult.content)}`;
      return '';
    })
    .filter((t) => t !== '')
    .join(' ');
}

export function bedrockConverse(
  operation: string,
  params: Json,
  headers: Record<string, string | string[] | undefined>,
  words: (text: string) => number,
  pieces: (text: string) => string[],
): BedrockAnswer {
  const problem = signatureProblem(headers);
  if (problem) return { status: 403, json: { message: problem }, errorType: 'UnrecognizedClientException' };
  const messages = array(params.messages).filter(isObject);
  if (messages.length === 0) {
    return {
      status: 400,
      json: { message: 'A conversation must start with a user message.' },
      errorType: 'ValidationException',
    };
  }
  let inputTokens = words(blocksText(params.system));
  let lastUser = '';
  for (const message of messages) {
    const text = blocksText(message.content);
    inputTokens += words(text);
    if (message.role === 'user') lastUser = text;
  }
  const toolConfig = isObject(params.toolConfig) ? params.toolConfig : {};
  const choice = isObject(toolConfig.toolChoice) ? toolConfig.toolChoice : {};
  const firstTool = array(toolConfig.tools).find(isObject);
  const tool = isObject(choice.tool)
    ? String(choice.tool.name)
    : isObject(choice.any) && isObject(firstTool?.toolSpec)
      ? String(firstTool.toolSpec.name)
      : null;
  const answer = `Echo: ${lastUser}`;
  const input = { echo: lastUser };
  const outputTokens = tool ? words(JSON.stringify(input)) : words(answer);
  const usage = { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens };
  const stopReason = tool ? 'tool_use' : 'end_turn';
  if (operation === 'converse') {
    const content = tool ? [{ toolUse: { toolUseId: 'tooluse_mock', name: tool, input } }] : [{ text: answer }];
    return {
      status: 200,
      json: { output: { message: { role: 'assistant', content } }, stopReason, usage, metrics: { latencyMs: 1 } },
    };
  }
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frame = (type: string, body: Json) =>
    codec.encode({
      headers: {
        ':event-type': { type: 'string', value: type },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: 'event' },
      },
      body: fromUtf8(JSON.stringify(body)),
    });
  const frames = [frame('messageStart', { role: 'assistant' })];
  if (tool) {
    frames.push(
      frame('contentBlockStart', {
        contentBlockIndex: 0,
        start: { toolUse: { toolUseId: 'tooluse_mock', name: tool } },
      }),
    );
    frames.push(
      frame('contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: JSON.stringify(input) } } }),
    );
  } else {
    for (const text of pieces(answer))
      frames.push(frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } }));
  }
  frames.push(frame('contentBlockStop', { contentBlockIndex: 0 }));
  frames.push(frame('messageStop', { stopReason }));
  frames.push(frame('metadata', { usage, metrics: { latencyMs: 1 } }));
  return { status: 200, frames };
}
