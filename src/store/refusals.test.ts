// Refusal counts and revoked sessions in both real databases: counts add up per minute,
// IP, source and status across writes, and a revoked session stays revoked.
import { describe, expect, it } from 'vitest';
import { openForSuite, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { createRefusalCounter, OTHER_IPS } from './refusal-counter.js';
import type { SqlStore } from './sql-store.js';

const MINUTE = 60_000;
const BASE = 1_800_000_000_000;

for (const target of [sqliteStoreTarget(), postgresStoreTarget()]) {
  describe(`refusals and revoked sessions on ${target.name}`, () => {
    let store: SqlStore;
    openForSuite(target, (opened) => {
      store = opened;
    });

    it('adds counts to the row of their minute, IP, source and status, across writes, newest minute first', async () => {
      let now = BASE + 5;
      const counter = createRefusalCounter(store, { now: () => now });
      for (let i = 0; i < 3; i++) counter.add('proxy', 401, '10.0.0.1');
      counter.add('admin', 401, '10.0.0.1');
      await counter.flush();
      counter.add('proxy', 401, '10.0.0.1');
      now += MINUTE;
      counter.add('proxy', 401, '10.0.0.2');
      await counter.close();

      expect(await store.queryRefusals({}, 10)).toEqual([
        { minute: BASE + MINUTE, ip: '10.0.0.2', source: 'proxy', status: 401, count: 1 },
        { minute: BASE, ip: '10.0.0.1', source: 'proxy', status: 401, count: 4 },
        { minute: BASE, ip: '10.0.0.1', source: 'admin', status: 401, count: 1 },
      ]);
      expect(await store.queryRefusals({ ip: '10.0.0.1', source: 'admin' }, 10)).toHaveLength(1);
      expect(await store.queryRefusals({ from: BASE + MINUTE }, 10)).toHaveLength(1);
      expect(await store.deleteLogsBefore(BASE + MINUTE)).toBe(0);
      expect(await store.queryRefusals({}, 10)).toHaveLength(1);
    });

    it('counts IPs past its row limit between two writes under one "other" row', async () => {
      const counter = createRefusalCounter(store, { now: () => BASE + 10 * MINUTE });
      for (let i = 0; i < 10_005; i++) counter.add('proxy', 401, `2001:db8::${i.toString(16)}`);
      await counter.close();
      const rows = await store.queryRefusals({ from: BASE + 10 * MINUTE, ip: OTHER_IPS }, 10);
      expect(rows).toEqual([{ minute: BASE + 10 * MINUTE, ip: OTHER_IPS, source: 'proxy', status: 401, count: 5 }]);
    });

    it('keeps a revoked session revoked, and only that one', async () => {
      await store.revokeSession('session-a', Date.now() + MINUTE);
      await store.revokeSession('session-a', Date.now() + MINUTE);
      expect(await store.isSessionRevoked('session-a')).toBe(true);
      expect(await store.isSessionRevoked('session-b')).toBe(false);
    });
  });
}
