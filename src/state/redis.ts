// The shared state in Redis, for several gateway processes: each operation is one Lua
// script, so a request's reservation across all its limits and budgets is one atomic round
// trip; config change events go over pub/sub.
//
// A bucket is a hash {used, reserved, h:<id> = amount} and a sorted set `<key>:leases` of
// reservation ids scored by lease end. Expired leases are dropped before every check, so the
// holds of a process that died give their room back.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type BucketSettlement,
  type BucketState,
  type HeldReservation,
  type ReserveInput,
  type ReserveOutcome,
  type SharedState,
  StateUnavailableError,
} from './state.js';

const DROP_EXPIRED = `
local function dropExpired(key, now)
  local leases = key .. ':leases'
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', key, 'h:' .. id)
    if amount then
      redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
      redis.call('HDEL', key, 'h:' .. id)
    end
    redis.call('ZREM', leases, id)
  end
end
local function stateOf(key)
  local values = redis.call('HMGET', key, 'used', 'reserved')
  return tonumber(values[1] or '0'), tonumber(values[2] or '0')
end
local function expireAt(key, at)
  if at > 0 then
    redis.call('PEXPIREAT', key, at)
    redis.call('PEXPIREAT', key .. ':leases', at)
  end
end
`;

/** KEYS: buckets. ARGV: now, leaseUntil, id, then limit, amount, expiresAt per bucket. → {refused (0: none), used, reserved, …} */
const RESERVE = `${DROP_EXPIRED}
local now, leaseUntil, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local result = {0}
for i, key in ipairs(KEYS) do
  dropExpired(key, now)
  local used, reserved = stateOf(key)
  local limit, amount = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  if result[1] == 0 and used + reserved + amount > limit then result[1] = i end
  result[2 * i] = used
  result[2 * i + 1] = reserved
end
if result[1] ~= 0 then return result end
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[3 * i + 2])
  redis.call('HINCRBY', key, 'reserved', amount)
  redis.call('HSET', key, 'h:' .. id, amount)
  redis.call('ZADD', key .. ':leases', leaseUntil, id)
  expireAt(key, tonumber(ARGV[3 * i + 3]))
  result[2 * i + 1] = result[2 * i + 1] + amount
end
return result
`;

/** KEYS: settled marker, then buckets. ARGV: id, marker ttl ms, then amount, expiresAt per bucket. */
const SETTLE = `${DROP_EXPIRED}
local id = ARGV[1]
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then return 0 end
for i = 2, #KEYS do
  local key = KEYS[i]
  local held = redis.call('HGET', key, 'h:' .. id)
  if held then
    redis.call('HINCRBY', key, 'reserved', -tonumber(held))
    redis.call('HDEL', key, 'h:' .. id)
    redis.call('ZREM', key .. ':leases', id)
  end
  local amount = tonumber(ARGV[2 * i - 1])
  if amount > 0 then redis.call('HINCRBY', key, 'used', amount) end
  expireAt(key, tonumber(ARGV[2 * i]))
end
return 1
`;

/** KEYS: buckets. ARGV: leaseUntil, then the reservation id held in each bucket. */
const RENEW = `
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key .. ':leases', 'XX', ARGV[1], ARGV[i + 1])
end
return 0
`;

/** KEYS: buckets. ARGV: now. → {used, reserved, …} */
const READ = `${DROP_EXPIRED}
local result = {}
for i, key in ipairs(KEYS) do
  dropExpired(key, tonumber(ARGV[1]))
  local used, reserved = stateOf(key)
  result[2 * i - 1] = used
  result[2 * i] = reserved
end
return result
`;

/**
 * How long a settled id is remembered, so a second settle does nothing: a repeat (a retried
 * call) comes within seconds; every marker is a key, so they must not pile up with traffic.
 */
const SETTLED_MEMORY_MS = 300_000;
/** Renewals are sent in batches of this many bucket holds. */
const RENEW_BATCH = 500;

export interface RedisStateOptions {
  url: string;
  /** Prefix of every key and of the events channel, e.g. `usage-panda:`. */
  prefix?: string;
  /** How long to wait for Redis at start before going on without it (it keeps reconnecting). */
  connectTimeoutMs?: number;
  onError?(err: Error): void;
}

interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

export class RedisState implements SharedState {
  readonly kind = 'redis';
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly listeners: ((topic: string) => void)[] = [];
  private readonly scripts = {
    reserve: script(RESERVE),
    settle: script(SETTLE),
    renew: script(RENEW),
    read: script(READ),
  };
  private ready = false;

  private constructor(private readonly options: RedisStateOptions) {
    this.prefix = options.prefix ?? 'usage-panda:';
    this.channel = `${this.prefix}events`;
    const retryStrategy = (times: number) => Math.min(times * 100, 1_000);
    // Commands fail at once while Redis is away (no offline queue): the request path then
    // answers by its connection's onStateUnavailable instead of waiting.
    this.client = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      retryStrategy,
    });
    this.subscriber = new Redis(options.url, { retryStrategy, maxRetriesPerRequest: null });
    const onError = (err: Error) => options.onError?.(err);
    this.client.on('error', onError);
    this.subscriber.on('error', onError);
    this.client.on('ready', () => {
      this.ready = true;
    });
    this.client.on('close', () => {
      this.ready = false;
    });
    this.subscriber.on('message', (_channel: string, topic: string) => {
      for (const listener of this.listeners) listener(topic);
    });
  }

  /** Connects, waiting up to connectTimeoutMs; a Redis that is not there yet is retried in the background. */
  static async open(options: RedisStateOptions): Promise<RedisState> {
    const state = new RedisState(options);
    await state.subscriber.subscribe(state.channel).catch(() => {});
    await new Promise<void>((resolve) => {
      if (state.client.status === 'ready') return resolve();
      const timer = setTimeout(resolve, options.connectTimeoutMs ?? 5_000);
      state.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return state;
  }

  get available(): boolean {
    return this.ready;
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  private async run(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      try {
        return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
        return await this.client.eval(s.source, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw new StateUnavailableError(`Redis: ${(err as Error).message}`);
    }
  }

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const args: (string | number)[] = [input.now, input.leaseUntil, input.id];
    for (const b of input.buckets) args.push(b.limit, b.amount, b.expiresAt ?? 0);
    const result = (await this.run(
      this.scripts.reserve,
      input.buckets.map((b) => this.key(b.key)),
      args,
    )) as number[];
    const states = input.buckets.map((_, i) => ({
      used: Number(result[2 * i + 1]),
      reserved: Number(result[2 * i + 2]),
    }));
    const refused = Number(result[0]);
    return refused === 0 ? { ok: true, states } : { ok: false, refused: refused - 1, states };
  }

  async settle(id: string, settlements: BucketSettlement[]): Promise<void> {
    if (settlements.length === 0) return;
    const args: (string | number)[] = [id, SETTLED_MEMORY_MS];
    for (const s of settlements) args.push(s.amount, s.expiresAt ?? 0);
    // The marker shares the first bucket's hash tag, so a cluster finds every key on one node.
    const tag = /\{[^}]*\}/.exec(settlements[0]?.key ?? '')?.[0] ?? '';
    await this.run(
      this.scripts.settle,
      [this.key(`settled:${tag}${id}`), ...settlements.map((s) => this.key(s.key))],
      args,
    );
  }

  async renew(held: HeldReservation[], leaseUntil: number): Promise<void> {
    const pairs = held.flatMap(({ id, keys }) => keys.map((key) => [this.key(key), id] as const));
    for (let i = 0; i < pairs.length; i += RENEW_BATCH) {
      const batch = pairs.slice(i, i + RENEW_BATCH);
      await this.run(
        this.scripts.renew,
        batch.map(([key]) => key),
        [leaseUntil, ...batch.map(([, id]) => id)],
      );
    }
  }

  async read(keys: string[], now: number): Promise<BucketState[]> {
    if (keys.length === 0) return [];
    const result = (await this.run(
      this.scripts.read,
      keys.map((key) => this.key(key)),
      [now],
    )) as number[];
    return keys.map((_, i) => ({ used: Number(result[2 * i]), reserved: Number(result[2 * i + 1]) }));
  }

  async publish(topic: string): Promise<void> {
    try {
      await this.client.publish(this.channel, topic);
    } catch (err) {
      // The others' caches still expire on their own; nothing is lost but time.
      this.options.onError?.(err as Error);
    }
  }

  subscribe(listener: (topic: string) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
