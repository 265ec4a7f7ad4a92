// The same contract for both stores: all-or-nothing reservations, idempotent settlement,
// leases that give a dead holder's room back, and events.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryState } from './memory.js';
import { RedisState } from './redis.js';
import type { SharedState } from './state.js';

const REDIS_URL = process.env.USAGE_PANDA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const opened: SharedState[] = [];
afterAll(async () => {
  for (const state of opened) await state.close();
});

const stores: [string, () => Promise<SharedState>][] = [
  ['memory', async () => new MemoryState()],
  [
    'redis',
    async () => {
      const state = await RedisState.open({ url: REDIS_URL, prefix: `up-test-${randomBytes(6).toString('hex')}:` });
      opened.push(state);
      return state;
    },
  ],
];

// Now, so the buckets these tests leave in Redis expire within a minute.
const NOW = Date.now();
const bucket = (key: string, limit: number, amount: number) => ({ key, limit, amount, expiresAt: NOW + 60_000 });

describe.each(stores)('%s state', (_name, open) => {
  it('reserves in every bucket or in none, and says which bucket had no room', async () => {
    const state = await open();
    const first = await state.reserve({
      id: 'r1',
      buckets: [bucket('{c}a', 10, 6), bucket('{c}b', 5, 1)],
      now: NOW,
      leaseUntil: NOW + 1000,
    });
    expect(first).toEqual({
      ok: true,
      states: [
        { used: 0, reserved: 6 },
        { used: 0, reserved: 1 },
      ],
    });
    const second = await state.reserve({
      id: 'r2',
      buckets: [bucket('{c}b', 5, 1), bucket('{c}a', 10, 5)],
      now: NOW,
      leaseUntil: NOW + 1000,
    });
    expect(second).toEqual({
      ok: false,
      refused: 1,
      states: [
        { used: 0, reserved: 1 },
        { used: 0, reserved: 6 },
      ],
    });
    expect(await state.read(['{c}a', '{c}b'], NOW)).toEqual([
      { used: 0, reserved: 6 },
      { used: 0, reserved: 1 },
    ]);
  });

  it('settles a reservation to what was used, once', async () => {
    const state = await open();
    await state.reserve({ id: 'r1', buckets: [bucket('{c}a', 10, 6)], now: NOW, leaseUntil: NOW + 1000 });
    const settlement = [{ key: '{c}a', amount: 4, expiresAt: NOW + 60_000 }];
    await state.settle('r1', settlement);
    await state.settle('r1', settlement);
    expect(await state.read(['{c}a'], NOW)).toEqual([{ used: 4, reserved: 0 }]);
    expect(
      (await state.reserve({ id: 'r2', buckets: [bucket('{c}a', 10, 6)], now: NOW, leaseUntil: NOW + 1000 })).ok,
    ).toBe(true);
    expect(
      (await state.reserve({ id: 'r3', buckets: [bucket('{c}a', 10, 1)], now: NOW, leaseUntil: NOW + 1000 })).ok,
    ).toBe(false);
  });

  it('gives back the room of a reservation whose lease ran out, unless it was renewed', async () => {
    const state = await open();
    await state.reserve({ id: 'dead', buckets: [bucket('{c}a', 10, 5)], now: NOW, leaseUntil: NOW + 1000 });
    await state.reserve({ id: 'alive', buckets: [bucket('{c}a', 10, 3)], now: NOW, leaseUntil: NOW + 1000 });
    await state.renew([{ id: 'alive', keys: ['{c}a'] }], NOW + 5000);
    expect(await state.read(['{c}a'], NOW + 999)).toEqual([{ used: 0, reserved: 8 }]);
    expect(await state.read(['{c}a'], NOW + 1000)).toEqual([{ used: 0, reserved: 3 }]);
    // Settling after the lease ran out still counts what was used.
    await state.settle('dead', [{ key: '{c}a', amount: 2, expiresAt: NOW + 60_000 }]);
    expect(await state.read(['{c}a'], NOW + 1000)).toEqual([{ used: 2, reserved: 3 }]);
  });

  it('tells subscribers of a published change', async () => {
    const state = await open();
    const heard = new Promise<string>((resolve) => state.subscribe(resolve));
    // A Redis subscription may still be on its way: publish until it is heard.
    const timer = setInterval(() => void state.publish('connections'), 50);
    await state.publish('connections');
    expect(await heard).toBe('connections');
    clearInterval(timer);
  });
});
