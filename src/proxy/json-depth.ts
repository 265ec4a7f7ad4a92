// How deeply a JSON text nests, found by a linear scan of its bytes before anything parses it:
// a body nested a million levels deep would block the event loop in JSON.parse, and deep
// values overflow the stack of everything that walks them afterwards.

/** The deepest nesting of objects and arrays a request body may have (README: "Limits"). */
export const MAX_JSON_DEPTH = 128;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * True when objects and arrays nest deeper than `limit`. Brackets inside strings do not
 * count; UTF-8 never puts these ASCII bytes inside a multi-byte character, so bytes will do.
 * Malformed JSON is left to JSON.parse to refuse.
 */
export function nestsDeeperThan(json: Buffer, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (byte === QUOTE) {
      // Jump over the string: prompts are most of a body, and indexOf finds its end fastest.
      let end = json.indexOf(QUOTE, i + 1);
      while (end !== -1 && isEscaped(json, end)) end = json.indexOf(QUOTE, end + 1);
      if (end === -1) return false;
      i = end;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++;
      if (depth > limit) return true;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}

/** A quote after an odd number of backslashes is part of the string. */
function isEscaped(json: Buffer, quote: number): boolean {
  let backslashes = 0;
  while (json[quote - 1 - backslashes] === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}
