// A bounded on-disk queue of JSON items, in order: JSONL segment files (owner-only) under
// one directory, appended to while a destination is away and read back, oldest first, when
// it returns. Past its byte cap new items are dropped and counted, never older ones.
// A crash between delivering and committing sends a segment's delivered items again: the
// reader must take them idempotently (records are, by id).
import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface SpoolOptions {
  /** Bytes the segments may hold together; appends past it are dropped. */
  maxBytes?: number;
  /** A segment takes appends until it is this large, then the next one starts. */
  segmentBytes?: number;
}

export interface SpoolStats {
  /** Items waiting, committed ones excluded. */
  items: number;
  /** Bytes of the segment files on disk. */
  bytes: number;
  /** Items dropped because the spool was full, since it was opened. */
  dropped: number;
}

interface Segment {
  seq: number;
  bytes: number;
  items: number;
}

const SEGMENT = /^(\d{12})\.jsonl$/;
const segmentName = (seq: number) => `${String(seq).padStart(12, '0')}.jsonl`;

export class Spool<T> {
  readonly stats: SpoolStats = { items: 0, bytes: 0, dropped: 0 };
  /** Oldest first; the last one takes appends unless it is being read. */
  private readonly segments: Segment[] = [];
  /** The oldest segment's items once read, and how many of them are committed. */
  private reading: { seq: number; items: T[]; committed: number } | null = null;
  /** Operations run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly maxBytes: number;
  private readonly segmentBytes: number;

  private constructor(
    readonly dir: string,
    options: SpoolOptions,
  ) {
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.segmentBytes = Math.min(options.segmentBytes ?? 4 * 1024 ** 2, this.maxBytes);
  }

  /** Opens (or creates, owner-only) the spool in `dir`, finding the segments a previous run left. */
  static async open<T>(dir: string, options: SpoolOptions = {}): Promise<Spool<T>> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const spool = new Spool<T>(dir, options);
    const seqs = (await readdir(dir))
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((seq): seq is string => seq !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const seq of seqs) {
      const path = join(dir, segmentName(seq));
      const segment = { seq, bytes: (await stat(path)).size, items: await countLines(path) };
      spool.segments.push(segment);
      spool.stats.bytes += segment.bytes;
      spool.stats.items += segment.items;
    }
    return spool;
  }

  private serial<R>(run: () => Promise<R>): Promise<R> {
    const next = this.chain.then(run);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Appends the items in order; returns false (and counts them dropped) when they do not fit. */
  append(items: readonly T[]): Promise<boolean> {
    return this.serial(async () => {
      if (items.length === 0) return true;
      const text = `${items.map((item) => JSON.stringify(item)).join('\n')}\n`;
      const bytes = Buffer.byteLength(text);
      if (this.stats.bytes + bytes > this.maxBytes) {
        this.stats.dropped += items.length;
        return false;
      }
      let last = this.segments.at(-1);
      if (!last || last.seq === this.reading?.seq || last.bytes >= this.segmentBytes) {
        last = { seq: (last?.seq ?? 0) + 1, bytes: 0, items: 0 };
        this.segments.push(last);
      }
      const path = join(this.dir, segmentName(last.seq));
      await appendFile(path, text, { mode: 0o600 });
      last.bytes += bytes;
      last.items += items.length;
      this.stats.bytes += bytes;
      this.stats.items += items.length;
      return true;
    });
  }

  /** Up to `max` of the oldest items, left in the spool until `commit`. */
  peek(max: number): Promise<T[]> {
    return this.serial(async () => {
      const reading = await this.oldest();
      return reading ? reading.items.slice(reading.committed, reading.committed + max) : [];
    });
  }

  /** Removes the `count` oldest items (those a `peek` returned and that were delivered). */
  commit(count: number): Promise<void> {
    return this.serial(async () => {
      const reading = await this.oldest();
      if (!reading) return;
      const done = Math.min(count, reading.items.length - reading.committed);
      reading.committed += done;
      this.stats.items -= done;
      if (reading.committed < reading.items.length) return;
      const segment = this.segments.shift();
      this.reading = null;
      if (!segment) return;
      this.stats.bytes -= segment.bytes;
      await unlink(join(this.dir, segmentName(segment.seq)));
    });
  }

  /** The oldest segment, read whole; it takes no more appends from then on. */
  private async oldest(): Promise<{ seq: number; items: T[]; committed: number } | null> {
    const first = this.segments[0];
    if (!first) return null;
    if (this.reading?.seq !== first.seq) {
      const text = await readFile(join(this.dir, segmentName(first.seq)), 'utf8');
      const items: T[] = [];
      // A line cut short by a crash mid-append is lost, not fatal.
      for (const line of text.split('\n')) {
        if (line === '') continue;
        try {
          items.push(JSON.parse(line) as T);
        } catch {}
      }
      // What the count at open took for items but was not.
      this.stats.items -= first.items - items.length;
      first.items = items.length;
      if (items.length === 0 && this.segments.length > 1) {
        this.segments.shift();
        this.stats.bytes -= first.bytes;
        await unlink(join(this.dir, segmentName(first.seq)));
        return this.oldest();
      }
      this.reading = { seq: first.seq, items, committed: 0 };
    }
    return this.reading;
  }

  /** Resolves once the operations called so far are done. */
  async settle(): Promise<void> {
    await this.serial(async () => {});
  }
}

async function countLines(path: string): Promise<number> {
  let count = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line !== '') count++;
  return count;
}
