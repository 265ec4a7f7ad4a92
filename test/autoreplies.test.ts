// Auto-replies: managed through /api/autoreplies, answered by the gateway without calling upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const CHAT_FLAG = { type: 'policy_autoreply', description: 'Request matched known chat autoreply' };

describe('Auto-replies', () => {
  it('answers a matching chat prompt in the chat shape, flagged, at cost 0, without calling upstream', async () => {
    const { id: connectionId, key } = await stack.createConnection();
    const created = await stack.admin('POST', '/api/autoreplies', {
      type: 'chat',
      request: 'What are your opening hours?',
      response: 'We are open 9 to 5.',
      connections: [connectionId],
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ type: 'chat', connections: [connectionId], managedBy: 'api' });
    stack.mock.reset();
    const { data, response } = await stack
      .client(key)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'What are your opening hours?' },
        ],
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message).toMatchObject({ role: 'assistant', content: 'We are open 9 to 5.' });
    expect(stack.mock.requests).toEqual([]);
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, costUsd: 0, flags: [CHAT_FLAG], totalTokens: 0 });
  });

  it('streams the reply when the client asked to stream, for completions too', async () => {
    const { key } = await stack.createConnection();
    await stack.admin('POST', '/api/autoreplies', { type: 'completion', request: 'ping', response: 'pong' });
    await stack.admin('POST', '/api/autoreplies', { type: 'chat', request: 'ping', response: 'chat pong' });
    const client = stack.client(key);
    const completion = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'ping',
      stream: true,
    });
    let text = '';
    for await (const chunk of completion) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('pong');
    const chat = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'ping' }],
      stream: true,
    });
    let chatText = '';
    for await (const chunk of chat) chatText += chunk.choices[0]?.delta.content ?? '';
    expect(chatText).toBe('chat pong');
  });

  it('does not answer for other connections, other prompts, or after the reply is deleted', async () => {
    const mine = await stack.createConnection();
    const other = await stack.createConnection();
    const created = await stack.admin('POST', '/api/autoreplies', {
      type: 'chat',
      request: 'only mine',
      response: 'canned',
      connections: [mine.id],
    });
    const ask = async (key: string, content: string) =>
      (await stack.client(key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }))
        .choices[0]?.message.content;
    expect(await ask(mine.key, 'only mine')).toBe('canned');
    expect(await ask(other.key, 'only mine')).toBe('Echo: only mine');
    expect(await ask(mine.key, 'only mine!')).toBe('Echo: only mine!');
    expect((await stack.admin('DELETE', `/api/autoreplies/${created.json.id}`)).status).toBe(204);
    expect(await ask(mine.key, 'only mine')).toBe('Echo: only mine');
  });

  it('reads, updates and validates through the admin API', async () => {
    const created = await stack.admin('POST', '/api/autoreplies', { type: 'chat', request: 'a', response: 'b' });
    const id = created.json.id;
    expect((await stack.admin('GET', `/api/autoreplies/${id}`)).json).toMatchObject({ request: 'a', response: 'b' });
    const updated = await stack.admin('PATCH', `/api/autoreplies/${id}`, { response: 'c' });
    expect(updated.json).toMatchObject({ request: 'a', response: 'c' });
    const list = await stack.admin('GET', '/api/autoreplies');
    expect(list.json.data.some((r: { id: string }) => r.id === id)).toBe(true);
    const bad = await stack.admin('POST', '/api/autoreplies', { type: 'image', request: 'a', response: 'b' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/^Usage Panda: type: /);
    expect((await stack.admin('GET', '/api/autoreplies/ar_nope')).status).toBe(404);
  });

  it('answers 409 to changes of an auto-reply the config file manages', async () => {
    const fromFile = await stack.gateway.store.insertAutoReply({
      type: 'chat',
      request: 'declared',
      response: 'in the file',
      connections: [],
      managedBy: 'file',
    });
    const patch = await stack.admin('PATCH', `/api/autoreplies/${fromFile.id}`, { response: 'x' });
    expect(patch.status).toBe(409);
    expect(patch.json.error.message).toBe('Usage Panda: this auto-reply is managed by the config file');
    expect((await stack.admin('DELETE', `/api/autoreplies/${fromFile.id}`)).status).toBe(409);
  });
});
