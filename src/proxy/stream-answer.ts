// The text of a streamed answer run through the answer filters as the events pass:
// each choice (or Responses content part) has its own filter chain; held-back text is
// released in a later event, the rest at the choice's end. Events are re-serialised only
// when their text changed.
import type { EventSourceMessage } from 'eventsource-parser';
import type { AnswerFilter } from '../policies/policy.js';
import type { Endpoint } from '../wire/endpoints.js';
import { isObject, type Json, parseObject } from '../wire/json.js';

/** A Gemini part whose text the model wrote as its answer (its thoughts aside). */
const isTextPart = (part: unknown): boolean => isObject(part) && typeof part.text === 'string' && part.thought !== true;

/** The filter chain of a Responses content part. */
const partKey = (json: Json) => `${json.output_index ?? 0}:${json.content_index ?? 0}`;

/** Runs text through a chain of filters; each filter's output feeds the next. */
class FilterChain {
  constructor(private readonly filters: AnswerFilter[]) {}

  write(text: string): string {
    let next = text;
    for (const filter of this.filters) next = filter.write(next);
    return next;
  }

  end(): string {
    let rest = '';
    for (const filter of this.filters) rest = filter.write(rest) + filter.end();
    return rest;
  }
}

/** Serialises one event as SSE, keeping its name and id. */
export function formatEvent(event: Pick<EventSourceMessage, 'event' | 'id'>, data: string): string {
  let text = '';
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  if (event.event !== undefined) text += `event: ${event.event}\n`;
  return `${text}data: ${data}\n\n`;
}

export class StreamAnswerFilter {
  private readonly chains = new Map<string, FilterChain>();
  /** The text released so far per chain, for the Responses events that repeat it whole. */
  private readonly released = new Map<string, string>();
  /** The last event of each chat/completion choice, as a template to flush held text into. */
  private readonly templates = new Map<string, { event: EventSourceMessage; json: Json }>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly makeFilters: () => AnswerFilter[],
    /**
     * Every filter only looks (audit): events are read, never rewritten, so the client can
     * get upstream's own bytes without any text held back.
     */
    readonly observesOnly = false,
  ) {}

  /** The event as it goes to the client (possibly rewritten), plus any text flushed before it. */
  rewrite(event: EventSourceMessage): string {
    if (this.observesOnly) {
      this.read(event);
      return '';
    }
    if (event.data === '[DONE]') return this.flushAll() + formatEvent(event, event.data);
    const json = parseObject(event.data);
    if (!json) return formatEvent(event, event.data);
    const changed = this.rewriteEvent(event, json);
    return typeof changed === 'string' ? changed : formatEvent(event, changed ? JSON.stringify(json) : event.data);
  }

  /** Observing: the event's text goes through the filters, and nothing comes out. */
  private read(event: EventSourceMessage): void {
    if (event.data === '[DONE]') {
      this.flushAll();
      return;
    }
    const json = parseObject(event.data);
    if (!json) return;
    if (this.endpoint !== 'responses') this.rewriteEvent(event, json);
    else if (json.type === 'response.output_text.delta' && typeof json.delta === 'string') {
      this.pass(partKey(json), json.delta, false);
    } else if (json.type === 'response.output_text.done') {
      this.pass(partKey(json), '', true);
    } else if (json.type === 'response.completed' || json.type === 'response.incomplete') this.flushAll();
  }

  /** Text still held back when the stream ends without its closing event. */
  flushAll(): string {
    let out = '';
    for (const [key, chain] of this.chains) {
      const rest = chain.end();
      this.chains.delete(key);
      this.remember(key, rest);
      if (rest !== '') out += this.synthetic(key, rest);
    }
    return out;
  }

  private chain(key: string): FilterChain {
    let chain = this.chains.get(key);
    if (!chain) {
      chain = new FilterChain(this.makeFilters());
      this.chains.set(key, chain);
    }
    return chain;
  }

  private pass(key: string, text: string, final: boolean): string {
    const chain = this.chain(key);
    let out = chain.write(text);
    if (final) {
      out += chain.end();
      this.chains.delete(key);
    }
    this.remember(key, out);
    return out;
  }

  /** The event's text through the filters, in its API's shape; a string is the event's whole replacement. */
  private rewriteEvent(event: EventSourceMessage, json: Json): boolean | string {
    switch (this.endpoint) {
      case 'responses':
        return this.rewriteResponseEvent(event, json);
      case 'anthropic.messages':
        return this.rewriteMessageEvent(event, json);
      case 'gemini.generate':
        return this.rewriteGenerateChunk(event, json);
      default:
        return this.rewriteChoices(event, json);
    }
  }

  /**
   * Anthropic's events: the text deltas of each content block are filtered; text held back
   * goes out as one more delta just before its block stops (or the message does).
   */
  private rewriteMessageEvent(event: EventSourceMessage, json: Json): boolean | string {
    const key = String(json.index ?? 0);
    switch (json.type) {
      case 'content_block_delta': {
        const delta = isObject(json.delta) ? json.delta : undefined;
        if (delta?.type !== 'text_delta' || typeof delta.text !== 'string') return false;
        if (!this.observesOnly) this.templates.set(key, { event, json });
        const out = this.pass(key, delta.text, false);
        if (out === delta.text) return false;
        delta.text = out;
        return true;
      }
      case 'content_block_stop': {
        if (!this.chains.has(key)) return false;
        const rest = this.pass(key, '', true);
        return (rest === '' ? '' : this.synthetic(key, rest)) + formatEvent(event, event.data);
      }
      case 'message_stop':
        return this.flushAll() + formatEvent(event, event.data);
      default:
        return false;
    }
  }

  /**
   * Gemini's chunks: each candidate's text parts are filtered; text held back is added to
   * the candidate's last chunk (the one with its finish reason).
   */
  private rewriteGenerateChunk(event: EventSourceMessage, json: Json): boolean {
    let changed = false;
    (Array.isArray(json.candidates) ? json.candidates : []).forEach((candidate: unknown, i: number) => {
      if (!isObject(candidate)) return;
      const key = String(candidate.index ?? i);
      const final = typeof candidate.finishReason === 'string';
      const content = isObject(candidate.content) ? candidate.content : { role: 'model', parts: [] };
      const all = Array.isArray(content.parts) ? content.parts : [];
      const parts = all.filter((part): part is Json & { text: string } => isTextPart(part));
      if (parts.length === 0 && !final) return;
      if (!final && !this.observesOnly) this.templates.set(key, { event, json });
      for (const part of parts) {
        const out = this.pass(key, part.text, false);
        if (out !== part.text) {
          part.text = out;
          changed = true;
        }
      }
      if (!final) return;
      const rest = this.pass(key, '', true);
      if (rest === '') return;
      const last = parts.at(-1);
      if (last) last.text += rest;
      else {
        all.push({ text: rest });
        content.parts = all;
        candidate.content = content;
      }
      changed = true;
    });
    return changed;
  }

  /** Chat and completion chunks: `choices[].delta.content` or `choices[].text`. */
  private rewriteChoices(event: EventSourceMessage, json: Json): boolean {
    if (!Array.isArray(json.choices)) return false;
    let changed = false;
    for (const choice of json.choices) {
      if (!isObject(choice)) continue;
      const key = String(choice.index ?? 0);
      const final = choice.finish_reason !== null && choice.finish_reason !== undefined;
      const holder = this.endpoint === 'chat.completions' ? choice.delta : choice;
      const field = this.endpoint === 'chat.completions' ? 'content' : 'text';
      if (!isObject(holder)) continue;
      const text = typeof holder[field] === 'string' ? (holder[field] as string) : '';
      if (text === '' && !final) continue;
      if (!final && !this.observesOnly) this.templates.set(key, { event, json });
      const out = this.pass(key, text, final);
      if (out !== text && !this.observesOnly) {
        holder[field] = out;
        changed = true;
      }
    }
    return changed;
  }

  /** Responses events: deltas are filtered; the events repeating the whole text get the filtered text. */
  private rewriteResponseEvent(event: EventSourceMessage, json: Json): boolean | string {
    const key = partKey(json);
    switch (json.type) {
      case 'response.output_text.delta': {
        if (typeof json.delta !== 'string') return false;
        this.templates.set(key, { event, json });
        const out = this.pass(key, json.delta, false);
        if (out === json.delta) return false;
        json.delta = out;
        return true;
      }
      case 'response.output_text.done': {
        const rest = this.pass(key, '', true);
        json.text = this.released.get(key) ?? '';
        return (rest === '' ? '' : this.synthetic(key, rest)) + formatEvent(event, JSON.stringify(json));
      }
      case 'response.content_part.done':
        return this.setPartText(json.part, key);
      case 'response.output_item.done':
        return this.setItemTexts(json.item, Number(json.output_index ?? 0));
      case 'response.completed':
      case 'response.incomplete': {
        // Text still held back goes out as a last delta before the response is declared complete.
        const rest = this.flushAll();
        const response = isObject(json.response) ? json.response : {};
        const output = Array.isArray(response.output) ? response.output : [];
        let changed = false;
        output.forEach((item, index) => {
          changed = this.setItemTexts(item, index) || changed;
        });
        return rest + formatEvent(event, changed ? JSON.stringify(json) : event.data);
      }
      default:
        return false;
    }
  }

  private setPartText(part: unknown, key: string): boolean {
    const text = this.released.get(key);
    if (!isObject(part) || text === undefined || part.text === text) return false;
    part.text = text;
    return true;
  }

  private setItemTexts(item: unknown, outputIndex: number): boolean {
    if (!isObject(item) || !Array.isArray(item.content)) return false;
    let changed = false;
    item.content.forEach((part, index) => {
      changed = this.setPartText(part, `${outputIndex}:${index}`) || changed;
    });
    return changed;
  }

  /**
   * Keeps the text released so far, only where it is read again: the Responses events
   * that repeat the whole text. Chat and completion streams never repeat it, so holding it
   * there would make the gateway's memory grow with the length of the stream.
   */
  private remember(key: string, text: string): void {
    if (this.endpoint !== 'responses' || this.observesOnly) return;
    this.released.set(key, (this.released.get(key) ?? '') + text);
  }

  /** An extra text event, shaped like the chain's last one, carrying text released late. */
  private synthetic(key: string, text: string): string {
    const template = this.templates.get(key);
    if (!template) return '';
    const json = structuredClone(template.json);
    if (this.endpoint === 'responses') {
      json.delta = text;
    } else if (this.endpoint === 'anthropic.messages') {
      json.delta = { type: 'text_delta', text };
    } else if (this.endpoint === 'gemini.generate') {
      json.candidates = [{ index: Number(key), content: { role: 'model', parts: [{ text }] } }];
    } else if (Array.isArray(json.choices)) {
      const choice = json.choices.find((c) => isObject(c) && String(c.index ?? 0) === key);
      json.choices = choice ? [choice] : [];
      if (isObject(choice)) {
        if (this.endpoint === 'chat.completions') choice.delta = { content: text };
        else choice.text = text;
        choice.finish_reason = null;
      }
    }
    return formatEvent(template.event, JSON.stringify(json));
  }
}
