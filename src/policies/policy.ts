// What a policy is: a setting, an optional header that overrides it per request, the
// endpoints it applies to, and hooks for the request phase and the answer.
import { z } from 'zod';
import type { Exchange } from '../exchange.js';
import type { PolicySettings } from '../policy-settings.js';
import type { TextFilter } from '../providers/view.js';
import type { Endpoint } from '../wire/endpoints.js';

export type SettingKey = Exclude<keyof PolicySettings, 'allowHeaderOverrides'>;

export interface PolicyContext {
  /** POSTs JSON to the connection's upstream with this request's provider key. */
  callUpstream(path: string, body: unknown): Promise<{ status: number; json: unknown }>;
  /** GETs a text from the connection's upstream, e.g. a stored file; `text` is null past the body limit. */
  readUpstream(path: string): Promise<{ status: number; text: string | null }>;
}

/**
 * Sees the answer text as it passes (whole for JSON answers, piece by piece for streams).
 * `write` returns what may be released now (possibly rewritten); `end` returns the rest.
 */
export interface AnswerFilter extends TextFilter {
  /**
   * True when the filter only looks (audit): it never changes the text nor blocks, so a
   * stream can go to the client as upstream sent it while the filter reads along.
   */
  readonly observesOnly?: boolean;
}

// Method syntax on purpose: it lets the pipeline hold policies of different value types
// in one list, while definePolicy checks each one against its own setting's type.
export interface Policy<K extends SettingKey = SettingKey, V = PolicySettings[K]> {
  readonly setting: K;
  /** The per-request override header, lower case; absent when the setting is not overridable. */
  readonly header?: string;
  /** Parses the header's text into a setting value; its error message names what is expected. */
  readonly headerSchema?: z.ZodType<V, string>;
  readonly endpoints: readonly Endpoint[] | 'all';
  /** Whether the setting does anything with this value. */
  isOn(value: V): boolean;
  /** Whether `override` is less strict than `configured` (refused when overrides are locked). */
  loosens(override: V, configured: V): boolean;
  onRequest?(ex: Exchange, value: V, ctx: PolicyContext): void | Promise<void>;
  onAnswer?(ex: Exchange, value: V): AnswerFilter | undefined;
}

export type AnyPolicy = Policy<SettingKey, unknown>;

export function definePolicy<K extends SettingKey>(policy: Policy<K>): Policy<K> {
  return policy;
}

export function appliesTo(policy: AnyPolicy, endpoint: Endpoint): boolean {
  return policy.endpoints === 'all' || policy.endpoints.includes(endpoint);
}

/** `true` / `false`, any case, as every boolean policy header takes it. */
export const booleanHeader = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: 'expected true or false' }))
  .transform((value) => value === 'true');

/** Loosening for on/off settings: turning off what the connection turned on. */
export const loosensBoolean = (override: boolean, configured: boolean): boolean => configured && !override;

/** A whole number of 0 or more, as the limit headers take it (0 turns the limit off). */
export const countHeader = z
  .string()
  .trim()
  .regex(/^\d{1,9}$/, { error: 'expected a whole number of 0 or more' })
  .transform(Number);

/** Loosening for limits where 0 means off: lifting the limit or raising it. */
export const loosensLimit = (override: number, configured: number): boolean =>
  configured > 0 && (override === 0 || override > configured);
