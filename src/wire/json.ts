// JSON as the OpenAI wire format carries it: objects read loosely, field by field.

export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;

/** A field read as an array: anything else is an empty one. */
export const array = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A field read as a string: anything else is ''. */
export const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A field read as a number (a token count): anything else is 0. */
export const count = (value: unknown): number => (typeof value === 'number' ? value : 0);

/** Text parsed as JSON when it is an object (or array); undefined for `[DONE]`, text, numbers, bad JSON. */
export function parseObject(data: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Text parsed as a JSON object (not an array); undefined for anything else. */
export function parseJsonObject(text: string): Json | undefined {
  const value = parseObject(text);
  return value && !Array.isArray(value) ? value : undefined;
}
