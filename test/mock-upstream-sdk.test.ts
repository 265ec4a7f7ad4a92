// The simulator as the official openai SDK uses it, through the gateway: the /files routes
// and a Responses stream complete enough for the SDK's responses.stream() helper.
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

let stack: Stack;
let key: string;
beforeAll(async () => {
  stack = await startStack();
  ({ key } = await stack.createConnection());
});
afterAll(() => stack?.close());

describe('The mock upstream through the openai SDK', () => {
  it('uploads, lists, retrieves, reads and deletes a file', async () => {
    const client = stack.client(key);
    const bytes = Buffer.from('{"prompt":"a","completion":"b"}\n');
    const file = await client.files.create({
      file: await toFile(bytes, 'train.jsonl', { type: 'application/jsonl' }),
      purpose: 'fine-tune',
    });
    expect(file).toMatchObject({ object: 'file', bytes: bytes.length, filename: 'train.jsonl', purpose: 'fine-tune' });
    const listed = await client.files.list();
    expect(listed.data.map((f) => f.id)).toContain(file.id);
    expect(await client.files.retrieve(file.id)).toMatchObject({ id: file.id, filename: 'train.jsonl' });
    const content = await client.files.content(file.id);
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true);
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    const err = await apiError(client.files.retrieve(file.id));
    expect(err.status).toBe(404);
    expect(err.message).toBe(`404 No such File object: ${file.id}`);
  });

  it('streams a Responses answer that responses.stream() completes, with every event in order', async () => {
    const stream = stack.client(key).responses.stream({ model: 'gpt-4o-mini', input: 'stream a response' });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('Echo: stream a response');
    expect(final.status).toBe('completed');
    expect(types[0]).toBe('response.created');
    expect(types.filter((t) => t !== 'response.output_text.delta')).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
  });
});
