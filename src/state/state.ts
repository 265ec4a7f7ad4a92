// The shared state behind one interface: counters with leased reservations (limits and
// budgets) and config change events; in-process (memory.ts) or in Redis (redis.ts).

/** One counter a request reserves against: reserve `amount` only if it still fits under `limit`. */
export interface BucketReservation {
  key: string;
  limit: number;
  /** Whole units (requests, tokens, nano-dollars). */
  amount: number;
  /** When the counter's window is over and it may be forgotten (epoch ms); null: never. */
  expiresAt: number | null;
}

/** What replaces a reservation once the request is done: the amount actually used. */
export interface BucketSettlement {
  key: string;
  amount: number;
  expiresAt: number | null;
}

/** A counter's state: what settled requests used, and what live reservations hold. */
export interface BucketState {
  used: number;
  reserved: number;
}

export type ReserveOutcome =
  /** Reserved in every bucket; the states include this reservation. */
  | { ok: true; states: BucketState[] }
  /** Nothing reserved: the bucket at `refused` had no room (states as found). */
  | { ok: false; refused: number; states: BucketState[] };

export interface ReserveInput {
  /** Unique per request; settling with it again does nothing. */
  id: string;
  buckets: BucketReservation[];
  now: number;
  /** Until when the reservation holds unless renewed (epoch ms). */
  leaseUntil: number;
}

/** A reservation to renew: its id and the buckets it holds. */
export interface HeldReservation {
  id: string;
  keys: string[];
}

/** The state store cannot be reached: the caller decides (deny or allow) by policy. */
export class StateUnavailableError extends Error {
  override name = 'StateUnavailableError';
}

export interface SharedState {
  readonly kind: 'memory' | 'redis';
  /** Whether the store answered its last call (always true in memory). */
  readonly available: boolean;
  /** All or nothing, atomically across every process sharing the store. */
  reserve(input: ReserveInput): Promise<ReserveOutcome>;
  /**
   * Replaces the reservation `id` by what was used; idempotent (by `id`), and applied even
   * when the reservation's lease has run out.
   */
  settle(id: string, settlements: BucketSettlement[]): Promise<void>;
  /** Extends the leases of reservations still in flight. */
  renew(held: HeldReservation[], leaseUntil: number): Promise<void>;
  /** Current states of the buckets, expired leases dropped. */
  read(keys: string[], now: number): Promise<BucketState[]>;
  /** Tells every process (this one included) that `topic` changed. */
  publish(topic: string): Promise<void>;
  /** Called with the topic of every change published by any process. */
  subscribe(listener: (topic: string) => void): void;
  close(): Promise<void>;
}
