// Enforce User IDs: blocks requests that do not say which end user they are for
// (the seed feature: ../shared/seed/enforce-user-ids.md).
import type { Endpoint } from '../wire/endpoints.js';
import { booleanHeader, definePolicy, loosensBoolean } from './policy.js';

export const USER_FIELD_ENDPOINTS: readonly Endpoint[] = [
  'completions',
  'chat.completions',
  'embeddings',
  'images.generations',
  'images.edits',
  'images.variations',
  'responses',
  'anthropic.messages',
  'gemini.generate',
];

export const MISSING_USER_FLAG = {
  type: 'policy_enforce_user_ids',
  description: 'Config set to block requests without user field',
} as const;

export const enforceUserIds = definePolicy({
  setting: 'enforceUserIds',
  header: 'x-usagepanda-enforce-user-ids',
  headerSchema: booleanHeader,
  endpoints: USER_FIELD_ENDPOINTS,
  isOn: (enforce) => enforce,
  loosens: loosensBoolean,
  onRequest(ex) {
    // The exchange already read `user` (or `safety_identifier`), from JSON or multipart;
    // missing, null and empty all count as missing.
    if (!ex.endUser) ex.flag({ ...MISSING_USER_FLAG }, { block: true });
  },
});
