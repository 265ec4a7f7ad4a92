// The admin API: connections (key shown once, stored as a hash) and the request log.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderKey, readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

describe('admin API', () => {
  it('refuses requests without the admin token with 401 in OpenAI shape', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-wrong-token']) {
      const response = await fetch(`${stack.gateway.url}/api/connections`, {
        headers: authorization ? { authorization } : {},
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: {
          message: 'Usage Panda: invalid or missing admin token',
          type: 'access_denied',
          param: null,
          code: null,
        },
      });
    }
  });

  it('creates a connection, shows its key once, and never shows the key or provider key again', async () => {
    const providerKey = fakeProviderKey();
    const created = await stack.admin('POST', '/api/connections', {
      name: 'prod',
      providerKey,
      policy: { enforceUserIds: true },
    });
    expect(created.status).toBe(201);
    expect(created.json.key).toMatch(/^up-[A-Za-z0-9]{48}$/);
    expect(created.json).toMatchObject({
      name: 'prod',
      enabled: true,
      keyPrefix: created.json.key.slice(0, 7),
      hasProviderKey: true,
      managedBy: 'api',
      policy: { enforceUserIds: true, allowHeaderOverrides: true },
    });
    const { id, key } = created.json;

    const read = await stack.admin('GET', `/api/connections/${id}`);
    const list = await stack.admin('GET', '/api/connections');
    const everything = JSON.stringify([read.json, list.json]);
    expect(everything).not.toContain(key);
    expect(everything).not.toContain(providerKey);
    expect(list.json.data.map((c: { id: string }) => c.id)).toContain(id);
  });

  it('updates the policy by merging, rotates the key, and deletes', async () => {
    const { id, key } = await stack.createConnection({ policy: { enforceUserIds: true } });
    const updated = await stack.admin('PATCH', `/api/connections/${id}`, { policy: { allowHeaderOverrides: false } });
    expect(updated.json.policy).toMatchObject({ enforceUserIds: true, allowHeaderOverrides: false });

    const rotated = await stack.admin('POST', `/api/connections/${id}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.json.key).not.toBe(key);
    const oldKey = await stack
      .client(key)
      .models.list()
      .catch((err) => err);
    expect(oldKey.status).toBe(401);
    const newKey = await stack.client(rotated.json.key).models.list();
    expect(newKey.data.length).toBeGreaterThan(0);

    expect((await stack.admin('DELETE', `/api/connections/${id}`)).status).toBe(204);
    expect((await stack.admin('GET', `/api/connections/${id}`)).status).toBe(404);
    const deleted = await stack
      .client(rotated.json.key)
      .models.list()
      .catch((err) => err);
    expect(deleted.status).toBe(401);
  });

  it('answers 400 naming the field for invalid input', async () => {
    const noName = await stack.admin('POST', '/api/connections', { policy: {} });
    expect(noName.status).toBe(400);
    expect(noName.json.error.message).toMatch(/^Usage Panda: name: /);
    const badPolicy = await stack.admin('POST', '/api/connections', { name: 'x', policy: { enforceUserIds: 'yes' } });
    expect(badPolicy.status).toBe(400);
    expect(badPolicy.json.error.message).toMatch(/^Usage Panda: policy\.enforceUserIds: /);
    const unknownSetting = await stack.admin('POST', '/api/connections', { name: 'x', policy: { nope: true } });
    expect(unknownSetting.status).toBe(400);
    const badUpstream = await stack.admin('POST', '/api/connections', { name: 'x', upstream: 'ftp://x' });
    expect(badUpstream.status).toBe(400);
    const response = await fetch(`${stack.gateway.url}/api/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(response.status).toBe(400);
    expect((await readJson(response)).error.type).toBe('invalid_request');
    expect((await stack.admin('GET', '/api/nothing-here')).status).toBe(404);
  });

  it('lists logs newest first with filters and cursor pagination, and reads one', async () => {
    const { id, key } = await stack.createConnection();
    const client = stack.client(key);
    for (let i = 0; i < 5; i++) {
      await client.chat.completions.create({
        model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini',
        messages: [{ role: 'user', content: `n${i}` }],
        user: `u${i % 2}`,
      });
    }
    await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-usagepanda-enforce-user-ids': 'true' } },
      )
      .catch(() => undefined);
    await stack.gateway.logWriter.drain();

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const query = `/api/logs?connection=${id}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await stack.admin('GET', query);
      expect(page.status).toBe(200);
      pages.push(...page.json.data.map((r: { id: string }) => r.id));
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(pages).toHaveLength(6);
    expect([...pages].sort().reverse()).toEqual(pages);

    const byUser = await stack.admin('GET', `/api/logs?connection=${id}&user=u1`);
    expect(byUser.json.data).toHaveLength(2);
    const byModel = await stack.admin('GET', `/api/logs?connection=${id}&model=gpt-4o`);
    expect(byModel.json.data).toHaveLength(2);
    const flagged = await stack.admin('GET', `/api/logs?connection=${id}&flag=policy_enforce_user_ids`);
    expect(flagged.json.data).toHaveLength(1);
    const errors = await stack.admin('GET', `/api/logs?connection=${id}&error=true`);
    expect(errors.json.data.map((r: { status: number }) => r.status)).toEqual([422]);
    const future = await stack.admin(
      'GET',
      `/api/logs?connection=${id}&from=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    expect(future.json.data).toHaveLength(0);

    const one = await stack.admin('GET', `/api/logs/${pages[0]}`);
    expect(one.json).toMatchObject({ id: pages[0], connectionId: id, status: 422 });
    expect((await stack.admin('GET', '/api/logs/req_nope')).status).toBe(404);
    expect((await stack.admin('GET', '/api/logs?limit=0')).status).toBe(400);
    expect((await stack.admin('GET', '/api/logs?operation=dance')).status).toBe(400);
  });

  it('stores keys only as hashes and provider keys only encrypted', async () => {
    const providerKey = fakeProviderKey();
    const { key } = await stack.createConnection({ providerKey });
    await stack.client(key, { apiKey: providerKey }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await stack.gateway.logWriter.drain();
    const files = await readdir(stack.dataDir);
    for (const file of files) {
      const bytes = await readFile(join(stack.dataDir, file));
      expect(bytes.includes(key), file).toBe(false);
      expect(bytes.includes(providerKey), file).toBe(false);
    }
  });
});
