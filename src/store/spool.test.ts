import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

let dir: string;
beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'usage-panda-spool-')), 'spool');
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

/** Everything in the spool, oldest first, committed as it is read. */
async function drain<T>(spool: Spool<T>, batch = 3): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const items = await spool.peek(batch);
    if (items.length === 0) return out;
    out.push(...items);
    await spool.commit(items.length);
  }
}

describe('spool', () => {
  it('gives items back in the order they were appended, across segments', async () => {
    const spool = await Spool.open<{ n: number }>(dir, { segmentBytes: 40 });
    for (let n = 0; n < 20; n += 2) await spool.append([{ n }, { n: n + 1 }]);
    expect((await readdir(dir)).length).toBeGreaterThan(1);
    expect(spool.stats.items).toBe(20);
    expect((await drain(spool)).map((item) => item.n)).toEqual([...Array(20).keys()]);
    expect(spool.stats).toEqual({ items: 0, bytes: 0, dropped: 0 });
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps taking appends while its oldest segment is read', async () => {
    const spool = await Spool.open<number>(dir);
    await spool.append([1, 2, 3]);
    expect(await spool.peek(2)).toEqual([1, 2]);
    await spool.append([4]);
    await spool.commit(2);
    expect(await drain(spool)).toEqual([3, 4]);
  });

  it('keeps uncommitted items across a reopen, owner-only', async () => {
    const first = await Spool.open<string>(dir, { segmentBytes: 8 });
    await first.append(['a', 'b']);
    await first.append(['c', 'd']);
    await first.append(['e']);
    expect(await first.peek(10)).toEqual(['a', 'b']);
    await first.commit(2);
    await first.settle();

    const again = await Spool.open<string>(dir, { segmentBytes: 8 });
    expect(again.stats.items).toBe(3);
    for (const name of await readdir(dir)) expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await again.append(['f']);
    expect(await drain(again)).toEqual(['c', 'd', 'e', 'f']);
  });

  it('drops and counts what does not fit under its cap, keeping what it holds', async () => {
    // Each item is 5 bytes on disk ("aa" and a newline), so 3 fit in 15.
    const spool = await Spool.open<string>(dir, { maxBytes: 15 });
    expect(await spool.append(['aa', 'bb'])).toBe(true);
    expect(await spool.append(['cc', 'dd'])).toBe(false);
    expect(await spool.append(['ee'])).toBe(true);
    expect(await spool.append(['ff'])).toBe(false);
    expect(spool.stats).toEqual({ items: 3, bytes: 15, dropped: 3 });
    expect(await drain(spool)).toEqual(['aa', 'bb', 'ee']);
    // Room again once delivered.
    expect(await spool.append(['gg'])).toBe(true);
    expect(await drain(spool)).toEqual(['gg']);
  });
});
