// Bad input and faults end cleanly: a clear 4xx in OpenAI's shape, a log record, and a
// gateway that keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
let standalone: Stack;
beforeAll(async () => {
  [stack, standalone] = await Promise.all([startStack(), startStack({}, { configYaml: 'standalone: true\n' })]);
});
afterAll(async () => {
  await Promise.all([stack?.close(), standalone?.close()]);
});

/** A multipart body that ends inside its file part, before the closing boundary. */
const TRUNCATED_UPLOAD = '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabcdef';

const postTruncatedUpload = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { 'content-type': 'multipart/form-data; boundary=xyz', ...headers },
    body: TRUNCATED_UPLOAD,
  });

describe('a multipart body cut short inside a file part', () => {
  it('is a 400 in OpenAI shape, recorded, and the gateway keeps serving', async () => {
    const { key } = await stack.createConnection();
    const response = await postTruncatedUpload(stack.gateway.url, { 'x-usagepanda-api-key': key });
    expect(response.status).toBe(400);
    const message = 'Usage Panda: invalid multipart body (Unexpected end of form)';
    expect(await readJson(response)).toEqual({
      error: { message, type: 'invalid_request', param: null, code: null },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 400, error: message, operation: 'audio' });

    const after = await stack.client(key).models.list();
    expect(after.data.length).toBeGreaterThan(0);
  });

  it('is a 400 on a standalone gateway too, where no key is needed', async () => {
    const response = await postTruncatedUpload(standalone.gateway.url);
    expect(response.status).toBe(400);
    expect((await readJson(response)).error.message).toBe(
      'Usage Panda: invalid multipart body (Unexpected end of form)',
    );
    expect((await fetch(`${standalone.gateway.url}/healthz`)).status).toBe(200);
  });

  it('does not bring down the mock upstream either', async () => {
    const response = await postTruncatedUpload(stack.mock.url);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect((await fetch(`${stack.mock.url}/models`)).status).toBe(200);
  });
});
