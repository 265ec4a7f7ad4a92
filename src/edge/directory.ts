// An edge's connections and auto-replies: the proxy's directories, served from the last
// snapshot synced from the control plane. Keys are found by their hash; the secrets open
// with the transport key derived from the edge token.
import { matchAutoReply } from '../autoreplies/directory.js';
import type { AutoReply, Connection } from '../domain.js';
import type { Exchange } from '../exchange.js';
import type { ProxyAutoReplies, ProxyConnections } from '../proxy/route.js';
import type { SecretBox } from '../secrets/cipher.js';
import { hashSecret, isApiKey } from '../secrets/keys.js';
import type { EdgeConnection, EdgeSnapshot } from './snapshot.js';

export class EdgeDirectory implements ProxyConnections, ProxyAutoReplies {
  private byKeyHash = new Map<string, EdgeConnection>();
  private replies: AutoReply[] = [];

  constructor(private readonly box: SecretBox) {}

  /** Serves from this snapshot from now on. */
  load(snapshot: EdgeSnapshot): void {
    this.byKeyHash = new Map(snapshot.connections.map((connection) => [connection.keyHash, connection]));
    this.replies = snapshot.autoReplies;
  }

  async findByKey(key: string): Promise<Connection | undefined> {
    if (!isApiKey(key)) return undefined;
    return this.byKeyHash.get(hashSecret(key));
  }

  open(sealed: string): string {
    return this.box.decrypt(sealed);
  }

  providerKey(connection: Connection): string | null {
    return connection.providerKeyEncrypted === null ? null : this.box.decrypt(connection.providerKeyEncrypted);
  }

  async match(ex: Exchange): Promise<AutoReply | undefined> {
    return matchAutoReply(this.replies, ex);
  }
}
