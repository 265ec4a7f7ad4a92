// The admin token: set by USAGE_PANDA_ADMIN_TOKEN, or generated on first start and kept
// only as a hash in the store. Generated tokens are shown once, at that start.
import { hashSecret, randomAlphanumeric, secretMatchesHash } from '../secrets/keys.js';
import type { Store } from '../store/store.js';

const SETTING = 'admin_token_hash';

export interface AdminToken {
  /** The token, only when this start generated it (to print once). */
  generated: string | null;
  verify(token: string): boolean;
}

/** The token as the gateway holds it: with its hash, to which dashboard sessions are bound. */
export interface StoredAdminToken extends AdminToken {
  /** Sessions are signed with a key derived from it, so a new token ends them. */
  hash: string;
}

export async function ensureAdminToken(store: Store, configured: string | undefined): Promise<StoredAdminToken> {
  let hash: string;
  let generated: string | null = null;
  if (configured) {
    hash = hashSecret(configured);
  } else {
    const stored = await store.getSetting(SETTING);
    if (stored) {
      hash = stored;
    } else {
      generated = `upa-${randomAlphanumeric(40)}`;
      hash = hashSecret(generated);
      await store.setSetting(SETTING, hash);
    }
  }
  return { generated, hash, verify: (token) => secretMatchesHash(token, hash) };
}

/** Replaces the stored admin token with a new one (for a lost token); returns it once. */
export async function resetAdminToken(store: Store): Promise<string> {
  const token = `upa-${randomAlphanumeric(40)}`;
  await store.setSetting(SETTING, hashSecret(token));
  return token;
}
