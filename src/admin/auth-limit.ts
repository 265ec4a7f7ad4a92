// Failed admin authentications (a wrong bearer token, a wrong sign-in) are limited per IP:
// after `maxFailures` in a window, every token attempt from that IP is refused with 429
// until the window ends, the right token included, so guessing gains nothing by going on.
import { GatewayError } from '../errors.js';

export interface AdminAuthLimitSettings {
  maxFailures: number;
  windowMs: number;
}

/** Windows kept at once; past it, ended windows are swept away. */
const SWEEP_AT = 10_000;

export const adminAuthLimited = (retryAfterSeconds: number) =>
  new GatewayError(
    'UP_ERR_ADMIN_AUTH_LIMITED',
    429,
    'rate_limit_exceeded',
    'Usage Panda: too many failed admin authentications from this address; try again later',
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  );

export class AdminAuthLimit {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly settings: AdminAuthLimitSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws the 429 while this IP is over the limit. */
  check(ip: string): void {
    const window = this.current(ip);
    if (window && window.failures >= this.settings.maxFailures) {
      throw adminAuthLimited((window.start + this.settings.windowMs - this.now()) / 1000);
    }
  }

  failed(ip: string): void {
    const window = this.current(ip);
    if (window) {
      window.failures++;
      return;
    }
    if (this.windows.size >= SWEEP_AT) this.sweep();
    this.windows.set(ip, { start: this.now(), failures: 1 });
  }

  private current(ip: string) {
    const window = this.windows.get(ip);
    if (!window) return undefined;
    if (this.now() - window.start < this.settings.windowMs) return window;
    this.windows.delete(ip);
    return undefined;
  }

  private sweep(): void {
    for (const ip of [...this.windows.keys()]) this.current(ip);
  }
}
