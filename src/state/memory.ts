// The shared state of a single process: counters in a Map. Reservations need no lock, as
// reserve runs to completion on the one event loop before any other request's.
import type {
  BucketReservation,
  BucketSettlement,
  BucketState,
  HeldReservation,
  ReserveInput,
  ReserveOutcome,
  SharedState,
} from './state.js';

interface Bucket {
  used: number;
  reserved: number;
  /** Reservation id → amount and lease. */
  holds: Map<string, { amount: number; leaseUntil: number }>;
  expiresAt: number | null;
}

/**
 * How long a settled id is remembered, so a second settle does nothing: a repeat comes at
 * once if at all, and a day of ids would grow with the traffic.
 */
const SETTLED_MEMORY_MS = 60_000;
const SWEEP_EVERY_MS = 60_000;

export class MemoryState implements SharedState {
  readonly kind = 'memory';
  readonly available = true;
  private readonly buckets = new Map<string, Bucket>();
  private readonly settled = new Map<string, number>();
  private readonly listeners: ((topic: string) => void)[] = [];
  private lastSweep = 0;

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    this.sweep(input.now);
    const found = input.buckets.map((b) => this.bucket(b, input.now));
    const states = found.map((b) => ({ used: b.used, reserved: b.reserved }));
    const refused = input.buckets.findIndex((b, i) => {
      const state = states[i] as BucketState;
      return state.used + state.reserved + b.amount > b.limit;
    });
    if (refused !== -1) return { ok: false, refused, states };
    input.buckets.forEach((b, i) => {
      const bucket = found[i] as Bucket;
      bucket.reserved += b.amount;
      bucket.holds.set(input.id, { amount: b.amount, leaseUntil: input.leaseUntil });
    });
    return { ok: true, states: found.map((b) => ({ used: b.used, reserved: b.reserved })) };
  }

  async settle(id: string, settlements: BucketSettlement[]): Promise<void> {
    if (this.settled.has(id)) return;
    this.settled.set(id, Date.now() + SETTLED_MEMORY_MS);
    for (const s of settlements) {
      const bucket = this.buckets.get(s.key) ?? this.create(s.key, s.expiresAt);
      const hold = bucket.holds.get(id);
      if (hold) {
        bucket.reserved -= hold.amount;
        bucket.holds.delete(id);
      }
      bucket.used += s.amount;
    }
  }

  async renew(held: HeldReservation[], leaseUntil: number): Promise<void> {
    for (const { id, keys } of held) {
      for (const key of keys) {
        const hold = this.buckets.get(key)?.holds.get(id);
        if (hold) hold.leaseUntil = leaseUntil;
      }
    }
  }

  async read(keys: string[], now: number): Promise<BucketState[]> {
    return keys.map((key) => {
      const bucket = this.buckets.get(key);
      if (!bucket) return { used: 0, reserved: 0 };
      this.dropExpiredHolds(bucket, now);
      return { used: bucket.used, reserved: bucket.reserved };
    });
  }

  async publish(topic: string): Promise<void> {
    for (const listener of this.listeners) listener(topic);
  }

  subscribe(listener: (topic: string) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {}

  private bucket(b: BucketReservation, now: number): Bucket {
    const bucket = this.buckets.get(b.key) ?? this.create(b.key, b.expiresAt);
    this.dropExpiredHolds(bucket, now);
    return bucket;
  }

  private create(key: string, expiresAt: number | null): Bucket {
    const bucket: Bucket = { used: 0, reserved: 0, holds: new Map(), expiresAt };
    this.buckets.set(key, bucket);
    return bucket;
  }

  private dropExpiredHolds(bucket: Bucket, now: number): void {
    for (const [id, hold] of bucket.holds) {
      if (hold.leaseUntil > now) continue;
      bucket.reserved -= hold.amount;
      bucket.holds.delete(id);
    }
  }

  /** Forgets windows that are over and settled ids old enough, once a minute. */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (bucket.expiresAt !== null && bucket.expiresAt <= now && bucket.holds.size === 0) this.buckets.delete(key);
    }
    const wall = Date.now();
    for (const [id, until] of this.settled) if (until <= wall) this.settled.delete(id);
  }
}
