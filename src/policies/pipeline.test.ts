import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { Exchange } from '../exchange.js';
import { DEFAULT_POLICY, type PolicySettings } from '../policy-settings.js';
import { enforceUserIds } from './enforce-user-ids.js';
import { resolveSettings, runRequestPhase } from './pipeline.js';

const ctx = {
  callUpstream: async () => ({ status: 200, json: {} }),
  readUpstream: async () => ({ status: 200, text: '' }),
};

function exchange(
  headers: Record<string, string> = {},
  body: Record<string, unknown> = {},
  path = '/chat/completions',
) {
  const ex = new Exchange('POST', path, '', headers, '127.0.0.1');
  ex.body = { kind: 'json', raw: Buffer.from(JSON.stringify(body)), json: body };
  ex.endUser = typeof body.user === 'string' && body.user ? body.user : null;
  return ex;
}

const policy = (patch: Partial<PolicySettings>): PolicySettings => ({ ...DEFAULT_POLICY, ...patch });

async function blockedMessage(ex: Exchange, configured: PolicySettings): Promise<string | null> {
  const settings = resolveSettings(ex, configured, [enforceUserIds]);
  try {
    await runRequestPhase(ex, settings, ctx, [enforceUserIds]);
    return null;
  } catch (err) {
    if (err instanceof GatewayError && err.status === 422) return err.message;
    throw err;
  }
}

describe('policy pipeline', () => {
  it('resolves header, then connection setting, then off', () => {
    expect(resolveSettings(exchange(), DEFAULT_POLICY).enforceUserIds).toBe(false);
    expect(resolveSettings(exchange(), policy({ enforceUserIds: true })).enforceUserIds).toBe(true);
    const header = exchange({ 'x-usagepanda-enforce-user-ids': 'True' });
    expect(resolveSettings(header, DEFAULT_POLICY).enforceUserIds).toBe(true);
  });

  it('rejects an invalid header value with 400 naming the header', () => {
    const ex = exchange({ 'x-usagepanda-enforce-user-ids': 'maybe' });
    expect(() => resolveSettings(ex, DEFAULT_POLICY)).toThrowError(
      'Usage Panda: invalid x-usagepanda-enforce-user-ids header: expected true or false',
    );
  });

  it('blocks with the seed message when user is missing, and passes with it', async () => {
    const on = policy({ enforceUserIds: true });
    expect(await blockedMessage(exchange(), on)).toBe('Usage Panda: Config set to block requests without user field');
    expect(await blockedMessage(exchange({}, { user: 'u' }), on)).toBeNull();
  });

  it('ignores endpoints the policy does not apply to', async () => {
    expect(await blockedMessage(exchange({}, {}, '/moderations'), policy({ enforceUserIds: true }))).toBeNull();
  });

  it('refuses a loosening header when overrides are locked, and joins every blocking flag', async () => {
    const ex = exchange({ 'x-usagepanda-enforce-user-ids': 'false' });
    const message = await blockedMessage(ex, policy({ enforceUserIds: true, allowHeaderOverrides: false }));
    expect(message).toBe(
      'Usage Panda: Config does not allow header overrides: x-usagepanda-enforce-user-ids, Config set to block requests without user field',
    );
    expect(ex.flags.map((f) => f.type)).toEqual(['policy_header_override', 'policy_enforce_user_ids']);
  });
});
