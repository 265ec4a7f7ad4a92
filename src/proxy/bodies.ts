// The bodies a log record keeps when the connection asks for them: what was forwarded
// upstream (after redaction) and what the client received, bounded, embeddings left out.
import type { Exchange } from '../exchange.js';

/** Bodies longer than this are cut, and say so. */
export const MAX_LOGGED_BODY_CHARS = 256 * 1024;

function bounded(text: string): string {
  if (text.length <= MAX_LOGGED_BODY_CHARS) return text;
  return `${text.slice(0, MAX_LOGGED_BODY_CHARS)}… [${text.length - MAX_LOGGED_BODY_CHARS} more characters not logged]`;
}

/** The request as forwarded: JSON text, multipart text fields, or a note on other bodies. */
export function loggedRequestBody(ex: Exchange, forwarded: Buffer | string | null): string | null {
  switch (ex.body.kind) {
    case 'none':
      return null;
    case 'json':
      return bounded(typeof forwarded === 'string' ? forwarded : ex.body.raw.toString('utf8'));
    case 'multipart':
      return bounded(JSON.stringify(ex.body.fields));
    case 'raw':
      return `[${ex.body.raw.length} bytes not logged]`;
  }
}

/** A JSON answer as sent; embedding vectors are replaced by a note on their size. */
export function loggedResponseBody(ex: Exchange, text: string, json: Record<string, unknown> | undefined): string {
  if (ex.endpoint !== 'embeddings' || !json || !Array.isArray(json.data)) return bounded(text);
  const data = json.data.map((item: unknown) => {
    if (typeof item !== 'object' || item === null) return item;
    const { embedding, ...rest } = item as Record<string, unknown>;
    const size = Array.isArray(embedding) ? `${embedding.length} numbers` : 'base64';
    return { ...rest, embedding: `[embedding of ${size} not logged]` };
  });
  return bounded(JSON.stringify({ ...json, data }));
}

/** Collects what a stream sends the client, up to the bound. */
export class StreamBodyLog {
  private text = '';
  private total = 0;
  private readonly decoder = new TextDecoder();

  add(chunk: Buffer | string): void {
    const piece = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.total += piece.length;
    if (this.text.length < MAX_LOGGED_BODY_CHARS) this.text += piece;
  }

  toString(): string {
    if (this.total <= MAX_LOGGED_BODY_CHARS) return this.text;
    const more = this.total - MAX_LOGGED_BODY_CHARS;
    return `${this.text.slice(0, MAX_LOGGED_BODY_CHARS)}… [${more} more characters not logged]`;
  }
}
