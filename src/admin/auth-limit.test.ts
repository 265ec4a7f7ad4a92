import { describe, expect, it } from 'vitest';
import { AdminAuthLimit } from './auth-limit.js';

describe('AdminAuthLimit', () => {
  it('refuses an IP from its Nth failure until the window ends, with the seconds left, and other IPs not at all', () => {
    let now = 1_000_000;
    const limit = new AdminAuthLimit({ maxFailures: 2, windowMs: 60_000 }, () => now);
    limit.failed('10.0.0.1');
    expect(() => limit.check('10.0.0.1')).not.toThrow();
    limit.failed('10.0.0.1');
    now += 15_000;
    let refused: unknown;
    try {
      limit.check('10.0.0.1');
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ status: 429, headers: { 'retry-after': '45' } });
    expect(() => limit.check('10.0.0.2')).not.toThrow();
    now += 45_000;
    expect(() => limit.check('10.0.0.1')).not.toThrow();
    limit.failed('10.0.0.1');
    expect(() => limit.check('10.0.0.1')).not.toThrow();
  });
});
