// The seed feature, end to end through the official SDK: ../shared/seed/enforce-user-ids.md.
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

const MESSAGE = 'Usage Panda: Config set to block requests without user field';
const FLAG = { type: 'policy_enforce_user_ids', description: 'Config set to block requests without user field' };
const ENFORCE = { 'x-usagepanda-enforce-user-ids': 'true' };

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

async function expectBlocked(call: Promise<unknown>) {
  const err = await apiError(call);
  expect(err.status).toBe(422);
  expect(err.error).toEqual({ message: MESSAGE, type: 'invalid_request', param: null, code: null });
  const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
  expect(record.status).toBe(422);
  expect(record.error).toBe(MESSAGE);
  expect(record.flags).toEqual([FLAG]);
  return record;
}

describe('Enforce User IDs', () => {
  it('blocks the seed page request (completion without user, header true) with 422 and flags the record', async () => {
    const { key } = await stack.createConnection();
    const client = stack.client(key);
    const record = await expectBlocked(
      client.completions.create({ model: 'text-davinci-003', prompt: 'Hello there' }, { headers: ENFORCE }),
    );
    expect(record.operation).toBe('completion');
    expect(record.model).toBe('text-davinci-003');
    expect(stack.mock.requests.some((r) => r.json && (r.json as { prompt?: string }).prompt === 'Hello there')).toBe(
      false,
    );
  });

  it('answers the CORS headers the seed page shows on the 422', async () => {
    const { key } = await stack.createConnection();
    const response = await fetch(`${stack.gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-usagepanda-api-key': key, ...ENFORCE },
      body: JSON.stringify({ model: 'text-davinci-003', prompt: 'Hello there' }),
    });
    expect(response.status).toBe(422);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toBe('*');
    expect(response.headers.get('content-type')).toContain('application/json');
  });

  it('lets the same request through when user is set, recording the end user', async () => {
    const { key } = await stack.createConnection();
    const { data, response } = await stack
      .client(key)
      .completions.create({ model: 'text-davinci-003', prompt: 'Hello there', user: 'user-42' }, { headers: ENFORCE })
      .withResponse();
    expect(data.choices[0]?.text).toBe('Echo: Hello there');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, endUser: 'user-42', flags: [], operation: 'completion' });
  });

  it('accepts safety_identifier in place of user', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const answer = await stack.client(key).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      safety_identifier: 'hashed-7',
    });
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
  });

  it('blocks a chat request without user when the connection setting alone is on', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const record = await expectBlocked(
      stack.client(key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(record.operation).toBe('chat');
  });

  it.each([
    ['empty string', ''],
    ['null', null],
  ])('counts a user that is an %s as missing', async (_name, user) => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    await expectBlocked(
      stack.client(key).embeddings.create({ model: 'text-embedding-3-small', input: 'x', user: user as string }),
    );
  });

  it('lifts the setting with the header false when header overrides are allowed', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const answer = await stack
      .client(key)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-usagepanda-enforce-user-ids': 'FALSE' } },
      );
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
  });

  it('refuses the header false with 422 and a flag when header overrides are off', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true, allowHeaderOverrides: false } });
    const err = await apiError(
      stack
        .client(key)
        .chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-usagepanda-enforce-user-ids': 'false' } },
        ),
    );
    expect(err.status).toBe(422);
    const description = 'Config does not allow header overrides: x-usagepanda-enforce-user-ids';
    expect(err.error).toEqual({
      message: `Usage Panda: ${description}, ${FLAG.description}`,
      type: 'invalid_request',
      param: null,
      code: null,
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.flags).toEqual([{ type: 'policy_header_override', description }, FLAG]);
  });

  it('still lets a locked connection tighten by header', async () => {
    const { key } = await stack.createConnection({ policy: { allowHeaderOverrides: false } });
    await expectBlocked(
      stack
        .client(key)
        .chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
          { headers: ENFORCE },
        ),
    );
  });

  it('answers 400 naming the header for a value that is not true or false', async () => {
    const { key } = await stack.createConnection();
    const err = await apiError(
      stack
        .client(key)
        .chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-usagepanda-enforce-user-ids': 'yes' } },
        ),
    );
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message: 'Usage Panda: invalid x-usagepanda-enforce-user-ids header: expected true or false',
      type: 'invalid_request',
      param: null,
      code: null,
    });
  });

  it('blocks an images.edit multipart request without a user field, and passes one with it', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const client = stack.client(key);
    const image = () => toFile(Buffer.from('not really a png'), 'cat.png', { type: 'image/png' });
    const record = await expectBlocked(client.images.edit({ image: await image(), prompt: 'a hat' }));
    expect(record.operation).toBe('image');

    stack.mock.reset();
    const answer = await client.images.edit({ image: await image(), prompt: 'a hat', user: 'user-9' });
    expect(answer.data?.length).toBe(1);
    const forwarded = stack.mock.requests.at(-1);
    expect(forwarded?.fields?.user).toBe('user-9');
    expect(forwarded?.fields?.prompt).toBe('a hat');
  });

  it('does not apply to endpoints without a user field (models, moderations)', async () => {
    const { key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const client = stack.client(key);
    const models = await client.models.list();
    expect(models.data.length).toBeGreaterThan(0);
    const moderation = await client.moderations.create({ input: 'hello' });
    expect(moderation.results[0]?.flagged).toBe(false);
  });
});
