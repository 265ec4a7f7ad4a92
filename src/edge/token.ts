// Edge tokens (`upe-…`): made like Usage Panda keys, stored as a hash, and the source of the
// transport key that seals the secrets an edge receives, so only the token's holder opens them.
import { hkdfSync } from 'node:crypto';
import { createSecretBox, type SecretBox } from '../secrets/cipher.js';
import { randomAlphanumeric } from '../secrets/keys.js';

const TOKEN_PATTERN = /^upe-[A-Za-z0-9]{48}$/;

export const generateEdgeToken = (): string => `upe-${randomAlphanumeric(48)}`;

export const isEdgeToken = (value: string): boolean => TOKEN_PATTERN.test(value);

/** The box both ends seal and open an edge's secrets with; derived from its token alone. */
export function transportBox(token: string): SecretBox {
  const secret = Buffer.from(hkdfSync('sha256', `usage-panda-edge:${token}`, 'usage-panda', 'edge-transport', 32));
  return createSecretBox(secret.toString('base64url'));
}
