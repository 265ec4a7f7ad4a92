// Auto-replies: their admin schemas, and finding the one that answers a request, through
// a short-lived cache in front of the store.
import { z } from 'zod';
import type { AutoReply } from '../domain.js';
import { storeUnavailable } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { CHAT_ENDPOINTS, promptTexts } from '../providers/view.js';
import type { Store } from '../store/store.js';

const Text = z.string().min(1).max(100_000);

/** The body of `POST /api/autoreplies`. */
export const AutoReplyCreateSchema = z
  .object({
    type: z.enum(['chat', 'completion']),
    request: Text,
    response: Text,
    connections: z.array(z.string().min(1)).default([]),
  })
  .strict();

/** The body of `PATCH /api/autoreplies/:id`. */
export const AutoReplyUpdateSchema = AutoReplyCreateSchema.partial().strict();

export function publicAutoReply(reply: AutoReply) {
  return {
    ...reply,
    createdAt: new Date(reply.createdAt).toISOString(),
    updatedAt: new Date(reply.updatedAt).toISOString(),
  };
}

/** The prompt an auto-reply is compared with: last user message for chat, the prompt for completions. */
function promptOf(ex: Exchange): { type: AutoReply['type']; text: string } | undefined {
  if (CHAT_ENDPOINTS.includes(ex.endpoint)) {
    const last = promptTexts(ex.endpoint, ex.json)
      .filter((prompt) => prompt.role === 'user')
      .at(-1);
    return last && { type: 'chat', text: last.text };
  }
  if (ex.endpoint === 'completions' && typeof ex.json?.prompt === 'string') {
    return { type: 'completion', text: ex.json.prompt };
  }
  return undefined;
}

/** The one of `replies` for this request's exact prompt on its connection, if any. */
export function matchAutoReply(replies: readonly AutoReply[], ex: Exchange): AutoReply | undefined {
  // Most gateways have none: then the prompt is not even read.
  if (replies.length === 0) return undefined;
  const prompt = promptOf(ex);
  if (!prompt) return undefined;
  const connectionId = ex.connection?.id;
  return replies.find(
    (reply) =>
      reply.type === prompt.type &&
      reply.request === prompt.text &&
      (reply.connections.length === 0 || (connectionId !== undefined && reply.connections.includes(connectionId))),
  );
}

export class AutoReplyDirectory {
  private cached: { replies: AutoReply[]; expires: number } | undefined;

  constructor(
    readonly store: Store,
    /** How long the list is trusted; other replicas' changes are seen within it. */
    private readonly cacheTtlMs = 5_000,
  ) {}

  /** The auto-reply for this request's exact prompt on its connection, if any. */
  async match(ex: Exchange): Promise<AutoReply | undefined> {
    return matchAutoReply(await this.list(), ex);
  }

  async list(): Promise<AutoReply[]> {
    const now = Date.now();
    if (!this.cached || this.cached.expires <= now) {
      try {
        this.cached = { replies: await this.store.listAutoReplies(), expires: now + this.cacheTtlMs };
      } catch {
        // The store away (PostgreSQL down): the last list read serves until it answers again.
        if (!this.cached) throw storeUnavailable();
      }
    }
    return this.cached.replies;
  }

  /** Called after every change made here: tells the other replicas (pub/sub). */
  onChange: (() => void) | null = null;

  /** Forgets the cached list after a change here, and tells the other replicas. */
  invalidate(): void {
    this.cached = undefined;
    this.onChange?.();
  }

  /** Forgets the cached list: another replica changed an auto-reply. */
  forget(): void {
    this.cached = undefined;
  }
}
