// An auto-reply answered in the endpoint's own shape: a chat completion or a text
// completion, as JSON or, when the client asked to stream, as server-sent events.
import type { AutoReply } from '../domain.js';
import type { Exchange, GatewayAnswer } from '../exchange.js';

export const autoReplyFlag = (type: AutoReply['type']) => ({
  type: 'policy_autoreply',
  description: `Request matched known ${type} autoreply`,
});

const ZERO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

export function autoReplyAnswer(ex: Exchange, reply: AutoReply): GatewayAnswer {
  const created = Math.floor(Date.now() / 1000);
  const model = ex.model ?? 'autoreply';
  if (reply.type === 'chat') {
    const id = `chatcmpl-${ex.id}`;
    if (!ex.stream) {
      return {
        status: 200,
        json: {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: reply.response, refusal: null },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage: ZERO_USAGE,
        },
      };
    }
    const chunk = (delta: unknown, finish: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    return {
      status: 200,
      sse: [
        event(chunk({ role: 'assistant', content: '' }, null)),
        event(chunk({ content: reply.response }, null)),
        event(chunk({}, 'stop')),
        'data: [DONE]\n\n',
      ].join(''),
    };
  }
  const id = `cmpl-${ex.id}`;
  const choice = (text: string, finish: string | null) => ({ text, index: 0, logprobs: null, finish_reason: finish });
  if (!ex.stream) {
    return {
      status: 200,
      json: {
        id,
        object: 'text_completion',
        created,
        model,
        choices: [choice(reply.response, 'stop')],
        usage: ZERO_USAGE,
      },
    };
  }
  const chunk = (text: string, finish: string | null) => ({
    id,
    object: 'text_completion',
    created,
    model,
    choices: [choice(text, finish)],
  });
  return {
    status: 200,
    sse: [event(chunk(reply.response, null)), event(chunk('', 'stop')), 'data: [DONE]\n\n'].join(''),
  };
}
