// Runs the policies in their declared order: resolves each setting (header, then
// connection, then off), runs the request phase, and gathers the answer filters.
import { badHeader, policyBlocked } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { PolicySettings } from '../policy-settings.js';
import { POLICIES } from './index.js';
import { type AnswerFilter, type AnyPolicy, appliesTo, type PolicyContext, type SettingKey } from './policy.js';

export const HEADER_OVERRIDE_FLAG_TYPE = 'policy_header_override';

/**
 * The settings in force for this request. A header that would loosen a setting of a
 * connection with header overrides off is refused: flagged, and blocking.
 */
export function resolveSettings(ex: Exchange, configured: PolicySettings, policies = POLICIES): PolicySettings {
  const settings: PolicySettings = { ...configured };
  for (const policy of policies) {
    if (!policy.header || !policy.headerSchema) continue;
    const raw = ex.header(policy.header);
    if (raw === undefined) continue;
    const parsed = policy.headerSchema.safeParse(raw);
    if (!parsed.success) throw badHeader(policy.header, parsed.error.issues[0]?.message ?? 'invalid value');
    const current = configured[policy.setting];
    if (!configured.allowHeaderOverrides && policy.loosens(parsed.data, current)) {
      ex.flag(
        { type: HEADER_OVERRIDE_FLAG_TYPE, description: `Config does not allow header overrides: ${policy.header}` },
        { block: true },
      );
      continue;
    }
    (settings as Record<SettingKey, unknown>)[policy.setting] = parsed.data;
  }
  ex.settings = settings;
  return settings;
}

interface ActivePolicies {
  policies: readonly AnyPolicy[];
  settings: PolicySettings;
  active: readonly AnyPolicy[];
}

/** Each request's active policies, worked out once: the request phase and every answer text ask again. */
const activeByExchange = new WeakMap<Exchange, ActivePolicies>();

/** The policies that apply to this request and are on, in order. */
function activePolicies(ex: Exchange, settings: PolicySettings, policies: readonly AnyPolicy[]): readonly AnyPolicy[] {
  const cached = activeByExchange.get(ex);
  if (cached && cached.policies === policies && cached.settings === settings) return cached.active;
  const active: AnyPolicy[] = [];
  for (const policy of policies) {
    if (appliesTo(policy, ex.endpoint) && policy.isOn(settings[policy.setting])) active.push(policy);
  }
  activeByExchange.set(ex, { policies, settings, active });
  return active;
}

/** Every applicable policy looks at the request; any blocking flag ends it with one 422. */
export async function runRequestPhase(
  ex: Exchange,
  settings: PolicySettings,
  ctx: PolicyContext,
  policies = POLICIES,
): Promise<void> {
  for (const policy of activePolicies(ex, settings, policies)) {
    // Most policies are synchronous: awaiting only a promise saves a microtask each.
    const pending = policy.onRequest?.(ex, settings[policy.setting], ctx);
    if (pending) await pending;
  }
  if (ex.blocked) throw policyBlocked(ex.blocking);
}

/** The filters the answer text passes through, in policy order; empty for most requests. */
export function answerFilters(ex: Exchange, settings: PolicySettings, policies = POLICIES): AnswerFilter[] {
  const filters: AnswerFilter[] = [];
  for (const policy of activePolicies(ex, settings, policies)) {
    const filter = policy.onAnswer?.(ex, settings[policy.setting]);
    if (filter) filters.push(filter);
  }
  return filters;
}
