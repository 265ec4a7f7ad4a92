// Max tokens, max prompt characters, blocked and allowed models, end to end through the SDK.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const chat = (content = 'hi', extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

/** Expects a 422 with exactly these flags; returns the stored record. */
async function expectBlocked(call: Promise<unknown>, flags: { type: string; description: string }[]) {
  const err = await apiError(call);
  const message = `Usage Panda: ${flags.map((f) => f.description).join(', ')}`;
  expect(err.status).toBe(422);
  expect(err.error).toEqual({ message, type: 'invalid_request', param: null, code: null });
  const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
  expect(record).toMatchObject({ status: 422, error: message, flags });
  return record;
}

async function expectBadHeader(call: Promise<unknown>, message: string) {
  const err = await apiError(call);
  expect(err.status).toBe(400);
  expect(err.error).toEqual({ message, type: 'invalid_request', param: null, code: null });
}

const maxTokensFlag = (n: number, m: string) => ({
  type: 'policy_max_tokens',
  description: `Config set to max tokens of: ${n}; request was: ${m}`,
});

describe('Max tokens', () => {
  it('blocks a chat request without max_tokens when the connection setting alone is on', async () => {
    const { key } = await stack.createConnection({ policy: { maxTokens: 100 } });
    const record = await expectBlocked(stack.client(key).chat.completions.create(chat()), [
      maxTokensFlag(100, 'not set'),
    ]);
    expect(record.operation).toBe('chat');
  });

  it('blocks max_completion_tokens above the limit and passes one at the limit', async () => {
    const { key } = await stack.createConnection({ policy: { maxTokens: 100 } });
    const client = stack.client(key);
    await expectBlocked(client.chat.completions.create(chat('hi', { max_completion_tokens: 101 })), [
      maxTokensFlag(100, '101'),
    ]);
    const { data, response } = await client.chat.completions
      .create(chat('hi', { max_completion_tokens: 100 }))
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hi');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, flags: [] });
  });

  it('checks max_tokens of completions and max_output_tokens of responses', async () => {
    const { key } = await stack.createConnection();
    const client = stack.client(key);
    const headers = { 'x-usagepanda-max-tokens': '50' };
    await expectBlocked(
      client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 51 }, { headers }),
      [maxTokensFlag(50, '51')],
    );
    await expectBlocked(client.responses.create({ model: 'gpt-4o-mini', input: 'x' }, { headers }), [
      maxTokensFlag(50, 'not set'),
    ]);
    const answer = await client.responses.create(
      { model: 'gpt-4o-mini', input: 'x', max_output_tokens: 20 },
      { headers },
    );
    expect(answer.output_text).toBe('Echo: x');
  });

  it('lets the header lift the setting when overrides are allowed', async () => {
    const { key } = await stack.createConnection({ policy: { maxTokens: 10 } });
    const answer = await stack
      .client(key)
      .chat.completions.create(chat('hi', { max_tokens: 500 }), { headers: { 'x-usagepanda-max-tokens': '1000' } });
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
  });

  it('refuses a raising header with 422 and a flag when overrides are off, and allows a lowering one', async () => {
    const { key } = await stack.createConnection({ policy: { maxTokens: 10, allowHeaderOverrides: false } });
    const client = stack.client(key);
    await expectBlocked(
      client.chat.completions.create(chat('hi', { max_tokens: 5 }), { headers: { 'x-usagepanda-max-tokens': '0' } }),
      [
        {
          type: 'policy_header_override',
          description: 'Config does not allow header overrides: x-usagepanda-max-tokens',
        },
      ],
    );
    await expectBlocked(
      client.chat.completions.create(chat('hi', { max_tokens: 5 }), { headers: { 'x-usagepanda-max-tokens': '4' } }),
      [maxTokensFlag(4, '5')],
    );
  });

  it('answers 400 naming the header for a value that is not a number', async () => {
    const { key } = await stack.createConnection();
    await expectBadHeader(
      stack.client(key).chat.completions.create(chat(), { headers: { 'x-usagepanda-max-tokens': 'lots' } }),
      'Usage Panda: invalid x-usagepanda-max-tokens header: expected a whole number of 0 or more',
    );
  });
});

const promptFlag = (n: number, m: number) => ({
  type: 'policy_max_prompt_chars',
  description: `Config set to max prompt chars of: ${n}; prompt was: ${m}`,
});

describe('Max prompt characters', () => {
  it('sums every message text, string content and text parts, against the setting', async () => {
    const { key } = await stack.createConnection({ policy: { maxPromptChars: 10 } });
    const client = stack.client(key);
    await expectBlocked(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'abcde' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'fghij' },
              { type: 'text', text: 'k' },
            ],
          },
        ],
      }),
      [promptFlag(10, 11)],
    );
    const { response } = await client.chat.completions.create(chat('0123456789')).withResponse();
    expect((await stack.record(response.headers.get('x-usagepanda-request-id'))).flags).toEqual([]);
  });

  it('counts characters as code points: an emoji is one, a lone surrogate is one', async () => {
    const { key } = await stack.createConnection({ policy: { maxPromptChars: 4 } });
    const client = stack.client(key);
    const { response } = await client.chat.completions.create(chat('a😀b😀')).withResponse();
    expect((await stack.record(response.headers.get('x-usagepanda-request-id'))).flags).toEqual([]);
    await expectBlocked(client.chat.completions.create(chat('😀😀\ud800😀😀')), [promptFlag(4, 5)]);
  });

  it('counts a completion prompt array and Responses input', async () => {
    const { key } = await stack.createConnection();
    const client = stack.client(key);
    const headers = { 'x-usagepanda-max-prompt-chars': '3' };
    await expectBlocked(
      client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['ab', 'cd'] }, { headers }),
      [promptFlag(3, 4)],
    );
    await expectBlocked(
      client.responses.create(
        { model: 'gpt-4o-mini', input: [{ role: 'user', content: [{ type: 'input_text', text: 'four' }] }] },
        { headers },
      ),
      [promptFlag(3, 4)],
    );
  });

  it('refuses a header lifting the limit on a locked connection, and lets an unlocked one lift it', async () => {
    const locked = await stack.createConnection({ policy: { maxPromptChars: 2, allowHeaderOverrides: false } });
    await expectBlocked(
      stack
        .client(locked.key)
        .chat.completions.create(chat('hi'), { headers: { 'x-usagepanda-max-prompt-chars': '0' } }),
      [
        {
          type: 'policy_header_override',
          description: 'Config does not allow header overrides: x-usagepanda-max-prompt-chars',
        },
      ],
    );
    const open = await stack.createConnection({ policy: { maxPromptChars: 1 } });
    const answer = await stack
      .client(open.key)
      .chat.completions.create(chat('hello'), { headers: { 'x-usagepanda-max-prompt-chars': '0' } });
    expect(answer.choices[0]?.message.content).toBe('Echo: hello');
  });

  it('answers 400 naming the header for a negative value', async () => {
    const { key } = await stack.createConnection();
    await expectBadHeader(
      stack.client(key).chat.completions.create(chat(), { headers: { 'x-usagepanda-max-prompt-chars': '-1' } }),
      'Usage Panda: invalid x-usagepanda-max-prompt-chars header: expected a whole number of 0 or more',
    );
  });
});

const modelFlag = (what: string) => ({
  type: 'policy_disabled_models',
  description: `Config set to block usage of ${what}`,
});

describe('Blocked and allowed models', () => {
  it('blocks a listed model and passes another', async () => {
    const { key } = await stack.createConnection({ policy: { blockedModels: ['gpt-4o'] } });
    const client = stack.client(key);
    const record = await expectBlocked(client.chat.completions.create(chat('hi', { model: 'GPT-4o' })), [
      modelFlag('model: GPT-4o'),
    ]);
    expect(record.model).toBe('GPT-4o');
    const answer = await client.chat.completions.create(chat());
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
  });

  it('blocks a listed image size', async () => {
    const { key } = await stack.createConnection({ policy: { blockedModels: ['1024x1024'] } });
    const client = stack.client(key);
    await expectBlocked(client.images.generate({ model: 'dall-e-3', prompt: 'a cat', size: '1024x1024' }), [
      modelFlag('image generation size: 1024x1024'),
    ]);
    const ok = await client.images.generate({ model: 'dall-e-3', prompt: 'a cat', size: '1792x1024' });
    expect(ok.data?.length).toBe(1);
  });

  it('allows only the allow-listed models when the list is set', async () => {
    const { key } = await stack.createConnection({ policy: { allowedModels: ['gpt-4o-mini'] } });
    const client = stack.client(key);
    await expectBlocked(client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }), [
      modelFlag('model: text-embedding-3-small'),
    ]);
    expect((await client.chat.completions.create(chat())).choices[0]?.message.content).toBe('Echo: hi');
    // Listing models names no model, so it is not refused.
    expect((await client.models.list()).data.length).toBeGreaterThan(0);
  });

  it('refuses a model in both lists once, not twice', async () => {
    const { key } = await stack.createConnection({
      policy: { blockedModels: ['gpt-4o'], allowedModels: ['gpt-4o-mini'] },
    });
    await expectBlocked(stack.client(key).chat.completions.create(chat('hi', { model: 'gpt-4o' })), [
      modelFlag('model: gpt-4o'),
    ]);
  });

  it('rejects a policy that is not a list of names in the admin API', async () => {
    const created = await stack.admin('POST', '/api/connections', { name: 'x', policy: { blockedModels: 'gpt-4o' } });
    expect(created.status).toBe(400);
    expect(created.json.error.message).toMatch(/^Usage Panda: policy\.blockedModels: /);
  });
});
