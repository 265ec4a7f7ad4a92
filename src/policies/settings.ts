// The policy settings of a connection: one schema for the admin API, the config file
// and storage. Every setting is off by default, so an unconfigured connection is a pure
// pass-through that records metrics.
import { z } from 'zod';

const PolicyFields = z.object({
  /** When false, a header that would loosen a setting is refused with 422 and flagged. */
  allowHeaderOverrides: z.boolean(),
  enforceUserIds: z.boolean(),
});

export type PolicySettings = z.infer<typeof PolicyFields>;

export const DEFAULT_POLICY: Readonly<PolicySettings> = Object.freeze({
  allowHeaderOverrides: true,
  enforceUserIds: false,
});

/** A partial update, as the admin API and the config file take it: only what is given. */
export const PolicySettingsPatchSchema = PolicyFields.partial().strict();
export type PolicySettingsPatch = z.infer<typeof PolicySettingsPatchSchema>;

/** Complete settings: what is given, the defaults for the rest. */
export const PolicySettingsSchema = PolicySettingsPatchSchema.transform(
  (patch): PolicySettings => ({ ...DEFAULT_POLICY, ...patch }),
);

/**
 * Settings saved by another version may lack newer settings or carry retired ones:
 * unknown keys are dropped, invalid values fall back to their default.
 */
export function readStoredPolicy(stored: unknown): PolicySettings {
  const policy: PolicySettings = { ...DEFAULT_POLICY };
  if (typeof stored !== 'object' || stored === null) return policy;
  for (const [key, schema] of Object.entries(PolicyFields.shape)) {
    const parsed = schema.safeParse((stored as Record<string, unknown>)[key]);
    if (parsed.success) Object.assign(policy, { [key]: parsed.data });
  }
  return policy;
}
