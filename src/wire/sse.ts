// Where server-sent events end: a blank line, with any of the three line endings the
// spec allows (CRLF, LF, CR). Whole events can then be handled as one piece of text.
// Both searches start next to where the answer usually is and read character codes,
// so finding the end of a chunk's last event costs one event, not the chunk.

const LF = 10;
const CR = 13;

/** True when the character at `i` is the last of a blank line (`\n\n`, `\r\n\r\n` or `\r\r`). */
function endsEvent(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c === LF) {
    const before = text.charCodeAt(i - 1);
    return before === LF || (before === CR && text.charCodeAt(i - 2) === LF && text.charCodeAt(i - 3) === CR);
  }
  return c === CR && text.charCodeAt(i - 1) === CR;
}

/** The offset just past the last event that ends at or before `limit`; 0 when none does. */
export function lastEventEnd(text: string, limit = text.length): number {
  for (let i = limit - 1; i > 0; i--) if (endsEvent(text, i)) return i + 1;
  return 0;
}

/** The offset just past the first event end at or after `from`; the text's length when there is none. */
export function nextEventEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) if (endsEvent(text, i)) return i + 1;
  return text.length;
}
