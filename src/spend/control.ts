// Limits and budgets on the shared state: before a request is forwarded, its worst case
// (one request, prompt plus maximum output tokens, and their price) is reserved in every
// limit and budget that applies, all or nothing; when it is done, the reservation is
// replaced by what it really used. Leases let the holds of a process that died run out.
import { type PriceBook, priceProviderOf } from '../accounting/prices.js';
import { countPromptTokens } from '../accounting/tokenizer.js';
import type { LogRecord } from '../domain.js';
import { budgetExceeded, limitsUnavailable, policyBlocked, rateLimitExceeded } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Budget, Limit, PolicySettings } from '../policy-settings.js';
import { OUTPUT_ENDPOINTS, outputCaps } from '../providers/view.js';
import { type BucketReservation, type SharedState, StateUnavailableError } from '../state/state.js';
import type { Endpoint } from '../wire/endpoints.js';
import { type Window, type WindowName, windowAt } from './windows.js';

export const RATE_LIMIT_FLAG = 'policy_rate_limit';
export const BUDGET_FLAG = 'policy_budget';
export const UNAVAILABLE_FLAG = 'policy_limits_unavailable';

/** The end user a request without one counts under. */
export const NO_USER = '(none)';
/** The connection id of a standalone gateway's keyless requests. */
const STANDALONE_ID = 'standalone';

/** Budgets count in nano-dollars: whole numbers, exact in Redis and Lua, up to $9 million. */
const NANO = 1_000_000_000;
export const toNano = (usd: number): number => Math.ceil(Math.round(usd * 1e12) / 1000);
export const fromNano = (nano: number): number => nano / NANO;

/** Endpoints whose prompt is counted in tokens. */
const TOKEN_ENDPOINTS = new Set<Endpoint>([...OUTPUT_ENDPOINTS, 'embeddings', 'gemini.embed']);

type Kind = 'requests' | 'tokens' | 'usd';

/** How long a counter outlives its window: per-user minute counters of many users must not pile up. */
const WINDOW_GRACE_MS = 300_000;

/** One counter a request is checked against, and what it says in a 429. */
interface Rule {
  kind: Kind;
  per: 'connection' | 'user' | 'ip';
  window: WindowName;
  /** In the counter's units (requests, tokens, nano-dollars). */
  limit: number;
  /** As configured: a count, or USD. */
  configured: number;
}

function rulesOf(settings: PolicySettings): Rule[] {
  const rules: Rule[] = [];
  for (const limit of settings.limits) {
    if (limit.requests !== undefined) rules.push(limitRule('requests', limit, limit.requests));
    if (limit.tokens !== undefined) rules.push(limitRule('tokens', limit, limit.tokens));
  }
  for (const budget of settings.budgets) rules.push(budgetRule(budget));
  return rules;
}

const limitRule = (kind: Kind, limit: Limit, value: number): Rule => ({
  kind,
  per: limit.per,
  window: limit.window,
  limit: value,
  configured: value,
});

const budgetRule = (budget: Budget): Rule => ({
  kind: 'usd',
  per: budget.per,
  window: budget.window,
  limit: toNano(budget.usd),
  configured: budget.usd,
});

/** `5 requests per minute per user`, `$10 per month per connection`. */
export function describeRule(rule: Pick<Rule, 'kind' | 'per' | 'window' | 'configured'>): string {
  const amount = rule.kind === 'usd' ? `$${rule.configured}` : `${rule.configured} ${rule.kind}`;
  return `${amount} per ${rule.window} per ${rule.per}`;
}

/** The counter of a rule for one subject in one window; the connection in braces keeps a Redis cluster's keys together. */
function bucketKey(connectionId: string, rule: Rule, window: Window, subject: string): string {
  const kind = rule.kind === 'requests' ? 'r' : rule.kind === 'tokens' ? 't' : 'u';
  return `{${connectionId}}:${kind}:${rule.per}:${rule.window}:${window.start}:${subject}`;
}

function subjectOf(ex: Exchange, per: Rule['per']): string {
  if (per === 'user') return ex.endUser ?? NO_USER;
  if (per === 'ip') return ex.ip ?? 'unknown';
  return '';
}

/** A request's reservation, to settle when it is done. */
export interface SpendHold {
  readonly id: string;
  readonly buckets: readonly { key: string; kind: Kind; amount: number; expiresAt: number | null }[];
}

export interface SpendEvents {
  /** The state store could not be reached; `allowed` says whether the request was served anyway. */
  unavailable(allowed: boolean): void;
  /** A request used more than it reserved (an upstream that did not honour the output cap). */
  overrun(kind: Kind): void;
  error(err: unknown): void;
}

export interface SpendControlOptions {
  state: SharedState;
  prices: PriceBook;
  /** The clock of windows and leases: injectable, so tests can move time. */
  now?: () => number;
  leaseMs: number;
  events: SpendEvents;
}

export class SpendControl {
  private readonly now: () => number;
  /** Reservations in flight, by id: their leases are renewed while the request lasts. */
  private readonly inFlight = new Map<string, string[]>();
  private readonly renewal: NodeJS.Timeout;

  constructor(private readonly options: SpendControlOptions) {
    this.now = options.now ?? Date.now;
    this.renewal = setInterval(() => this.renew(), Math.max(50, Math.floor(options.leaseMs / 3)));
    this.renewal.unref();
  }

  get state(): SharedState {
    return this.options.state;
  }

  /**
   * Reserves the request's worst case in every limit and budget of its settings, or
   * refuses it: 429 over a limit or budget, 503 when the state store is away (and the
   * settings say deny). Sets the `x-ratelimit-*` headers. Null when nothing applies.
   */
  async reserve(ex: Exchange, settings: PolicySettings, signal?: { aborted: boolean }): Promise<SpendHold | null> {
    if (settings.limits.length === 0 && settings.budgets.length === 0) return null;
    const rules = rulesOf(settings);
    const amounts = await this.worstCase(ex, settings, rules);
    const now = this.now();
    const connectionId = ex.connection?.id ?? STANDALONE_ID;
    const windows = rules.map((rule) => windowAt(rule.window, now, settings.timezone));
    const buckets: (BucketReservation & { kind: Kind })[] = rules.map((rule, i) => {
      const window = windows[i] as Window;
      return {
        key: bucketKey(connectionId, rule, window, subjectOf(ex, rule.per)),
        kind: rule.kind,
        limit: rule.limit,
        amount: amounts[rule.kind],
        // A finished window is forgotten soon after: a request settling later recreates what it needs.
        expiresAt: window.end === null ? null : window.end + WINDOW_GRACE_MS,
      };
    });

    let outcome: Awaited<ReturnType<SharedState['reserve']>>;
    try {
      outcome = await this.options.state.reserve({ id: ex.id, buckets, now, leaseUntil: now + this.options.leaseMs });
    } catch (err) {
      if (!(err instanceof StateUnavailableError)) throw err;
      const allowed = settings.onStateUnavailable === 'allow';
      this.options.events.unavailable(allowed);
      ex.flag(
        {
          type: UNAVAILABLE_FLAG,
          description: allowed
            ? 'Limits unavailable: served without limits and budgets'
            : 'Limits unavailable: request refused',
        },
        { block: false },
      );
      if (allowed) return null;
      throw limitsUnavailable();
    }

    const headers = rateLimitHeaders(rules, windows, outcome.states, now);
    Object.assign(ex.responseHeaders, headers);
    if (!outcome.ok) {
      const rule = rules[outcome.refused] as Rule;
      const end = (windows[outcome.refused] as Window).end;
      const retryAfter = end === null ? null : (end - now) / 1000;
      const described = describeRule(rule);
      if (rule.kind === 'usd') {
        ex.flag({ type: BUDGET_FLAG, description: `Budget exceeded: ${described}` }, { block: false });
        throw budgetExceeded(described, retryAfter, headers);
      }
      ex.flag({ type: RATE_LIMIT_FLAG, description: `Rate limit exceeded: ${described}` }, { block: false });
      throw rateLimitExceeded(described, retryAfter ?? 1, headers);
    }
    const hold: SpendHold = {
      id: ex.id,
      buckets: buckets.map(({ key, kind, amount, expiresAt }) => ({ key, kind, amount, expiresAt })),
    };
    if (signal?.aborted) {
      // The client left while the reservation was on its way: nobody will settle it later.
      this.options.state
        .settle(
          hold.id,
          hold.buckets.map((b) => ({ ...b, amount: 0 })),
        )
        .catch(this.options.events.error);
      return null;
    }
    this.inFlight.set(
      hold.id,
      buckets.map((b) => b.key),
    );
    return hold;
  }

  /**
   * Replaces the reservation by what the request used, as its record says: nothing when
   * upstream never answered; the reservation itself for what the record cannot tell (an
   * answer cut short by the client, a model without a price).
   */
  settle(hold: SpendHold, record: LogRecord): void {
    if (!this.inFlight.delete(hold.id)) return; // settled already
    const answered = record.attempts.some((attempt) => attempt.status !== null);
    const settlements = hold.buckets.map((b) => {
      let amount = 0;
      if (answered) {
        if (b.kind === 'requests') amount = 1;
        else if (b.kind === 'tokens') amount = record.totalTokens ?? (record.status >= 400 ? 0 : b.amount);
        else amount = record.costUsd === null ? b.amount : toNano(record.costUsd);
      }
      if (amount > b.amount) this.options.events.overrun(b.kind);
      return { key: b.key, amount, expiresAt: b.expiresAt };
    });
    this.options.state.settle(hold.id, settlements).catch((err: unknown) => this.options.events.error(err));
  }

  /** What a limit or budget stands at for a connection (and an end user), for the admin API. */
  async status(connectionId: string, settings: PolicySettings, user: string | null): Promise<SpendStatus[]> {
    const rules = rulesOf(settings).filter(
      (rule) => rule.per === 'connection' || (rule.per === 'user' && user !== null),
    );
    return this.statusOf(
      connectionId,
      settings,
      rules.map((rule) => ({ rule, user: rule.per === 'user' ? user : null })),
    );
  }

  /** The `per: user` limits and budgets of many end users at once: one read of the state for all. */
  async usersStatus(connectionId: string, settings: PolicySettings, users: readonly string[]): Promise<SpendStatus[]> {
    const rules = rulesOf(settings).filter((rule) => rule.per === 'user');
    return this.statusOf(
      connectionId,
      settings,
      users.flatMap((user) => rules.map((rule) => ({ rule, user }))),
    );
  }

  private async statusOf(
    connectionId: string,
    settings: PolicySettings,
    counters: readonly { rule: Rule; user: string | null }[],
  ): Promise<SpendStatus[]> {
    if (counters.length === 0) return [];
    const now = this.now();
    const windows = counters.map(({ rule }) => windowAt(rule.window, now, settings.timezone));
    const keys = counters.map(({ rule, user }, i) =>
      bucketKey(connectionId, rule, windows[i] as Window, rule.per === 'user' ? (user ?? NO_USER) : ''),
    );
    const states = await this.options.state.read(keys, now);
    return counters.map(({ rule, user }, i) => {
      const window = windows[i] as Window;
      const state = states[i] ?? { used: 0, reserved: 0 };
      const value = (n: number) => (rule.kind === 'usd' ? fromNano(n) : n);
      return {
        kind: rule.kind === 'usd' ? 'budget' : 'limit',
        unit: rule.kind,
        per: rule.per,
        subject: rule.per === 'user' ? user : null,
        window: rule.window,
        windowStart: new Date(window.start).toISOString(),
        windowEnd: window.end === null ? null : new Date(window.end).toISOString(),
        limit: rule.configured,
        used: value(state.used),
        reserved: value(state.reserved),
        remaining: value(Math.max(0, rule.limit - state.used - state.reserved)),
        description: describeRule(rule),
      };
    });
  }

  close(): void {
    clearInterval(this.renewal);
  }

  private renew(): void {
    if (this.inFlight.size === 0) return;
    const held = [...this.inFlight].map(([id, keys]) => ({ id, keys }));
    this.options.state
      .renew(held, this.now() + this.options.leaseMs)
      .catch((err: unknown) => this.options.events.error(err));
  }

  /** One request, its prompt plus maximum output tokens, and their price (only counted when a rule needs them). */
  private async worstCase(ex: Exchange, settings: PolicySettings, rules: Rule[]): Promise<Record<Kind, number>> {
    const amounts: Record<Kind, number> = { requests: 1, tokens: 0, usd: 0 };
    const needsTokens = rules.some((rule) => rule.kind !== 'requests');
    if (!needsTokens || !TOKEN_ENDPOINTS.has(ex.endpoint) || !ex.json) {
      if (rules.some((rule) => rule.kind === 'usd')) amounts.usd = this.otherCost(ex);
      return amounts;
    }
    const prompt = (await countPromptTokens(ex.endpoint, ex.json)) ?? 0;
    const output = OUTPUT_ENDPOINTS.includes(ex.endpoint) ? this.maxOutput(ex, settings, prompt) : 0;
    amounts.tokens = prompt + output;
    if (rules.some((rule) => rule.kind === 'usd')) {
      const cost = this.options.prices.cost({
        provider: priceProviderOf(ex.provider),
        endpoint: ex.endpoint,
        model: ex.providerModel ?? ex.model,
        usage: {
          promptTokens: prompt,
          completionTokens: output,
          totalTokens: prompt + output,
          cachedTokens: null,
          reasoningTokens: null,
          audioSeconds: null,
        },
      });
      if (cost === null) {
        // Without a price a budget cannot hold: refused, as a policy block, with what to do.
        ex.flag(
          {
            type: BUDGET_FLAG,
            description: `Config set to a budget; model ${ex.model ?? '(none)'} has no known price (add it to the prices table)`,
          },
          { block: true },
        );
        throw policyBlocked(ex.blocking);
      }
      amounts.usd = toNano(cost);
    }
    return amounts;
  }

  /** The request's own maximum output, else the model's, else the connection's default; times `n` answers. */
  private maxOutput(ex: Exchange, settings: PolicySettings, prompt: number): number {
    const body = ex.json ?? {};
    // The largest cap the request sets: upstream may honour any of them.
    const caps = outputCaps(ex.endpoint, body).filter(
      (value): value is number => typeof value === 'number' && Number.isInteger(value) && value > 0,
    );
    const asked = caps.length > 0 ? Math.max(...caps) : undefined;
    const each =
      asked ??
      (ex.model
        ? this.options.prices.outputCap(priceProviderOf(ex.provider), ex.providerModel ?? ex.model, prompt)
        : null) ??
      settings.defaultMaxOutputTokens;
    const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
    return each * n;
  }

  /** Images are priced per image before the call; other endpoints (audio) only after it. */
  private otherCost(ex: Exchange): number {
    if (ex.operation !== 'image') return 0;
    const n = Number(ex.json?.n ?? ex.field('n') ?? 1);
    const cost = this.options.prices.cost({
      provider: priceProviderOf(ex.provider),
      endpoint: ex.endpoint,
      model: ex.providerModel ?? ex.model,
      usage: null,
      image: { n: Number.isInteger(n) && n > 0 ? n : 1, size: ex.field('size'), quality: ex.field('quality') },
    });
    return cost === null ? 0 : toNano(cost);
  }
}

export interface SpendStatus {
  kind: 'limit' | 'budget';
  unit: Kind;
  per: 'connection' | 'user' | 'ip';
  subject: string | null;
  window: WindowName;
  windowStart: string;
  windowEnd: string | null;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  description: string;
}

/** OpenAI's `x-ratelimit-*` headers, for the request and the token limit with the least room left. */
function rateLimitHeaders(
  rules: Rule[],
  windows: Window[],
  states: { used: number; reserved: number }[],
  now: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ['requests', 'tokens'] as const) {
    let tightest: { limit: number; remaining: number; reset: number } | null = null;
    rules.forEach((rule, i) => {
      if (rule.kind !== kind) return;
      const state = states[i] ?? { used: 0, reserved: 0 };
      const remaining = Math.max(0, rule.limit - state.used - state.reserved);
      const reset = ((windows[i] as Window).end ?? now) - now;
      if (!tightest || remaining < tightest.remaining || (remaining === tightest.remaining && reset < tightest.reset)) {
        tightest = { limit: rule.limit, remaining, reset };
      }
    });
    const found = tightest as { limit: number; remaining: number; reset: number } | null;
    if (!found) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(found.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(found.remaining);
    headers[`x-ratelimit-reset-${kind}`] = formatReset(found.reset);
  }
  return headers;
}

/** A duration as OpenAI writes it: `20ms`, `1s`, `6m0s`, `1h2m3s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
