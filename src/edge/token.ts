// The transport key of an edge's secrets: derived from its token, so the central (which keeps
// the token sealed) and the edge (which holds it) seal and open them, and nobody else can.
import { hkdfSync } from 'node:crypto';
import { createSecretBox, type SecretBox } from '../secrets/cipher.js';

/** The box both ends seal and open an edge's secrets with; derived from its token alone. */
export function transportBox(token: string): SecretBox {
  const secret = Buffer.from(hkdfSync('sha256', `usage-panda-edge:${token}`, 'usage-panda', 'edge-transport', 32));
  return createSecretBox(secret.toString('base64url'));
}
