// Finds phrases in text: case-insensitive, on word boundaries, in time linear in the
// text (Aho-Corasick), never building a regular expression from the phrases or the text.
// Also the sliding window that lets a stream be checked as it passes.
import AhoCorasick from 'modern-ahocorasick';

export interface PhraseHit<T> {
  /** UTF-16 offsets into the text; end exclusive. */
  start: number;
  end: number;
  /** What the caller attached to the phrase (e.g. the lists it belongs to). */
  tags: readonly T[];
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;

/** The code point ending right before `index`, or undefined at the start. */
function charBefore(text: string, index: number): string | undefined {
  if (index <= 0) return undefined;
  const low = text.charCodeAt(index - 1);
  const pair = low >= 0xdc00 && low <= 0xdfff && index >= 2;
  return text.slice(pair ? index - 2 : index - 1, index);
}

function charAt(text: string, index: number): string | undefined {
  const code = text.codePointAt(index);
  return code === undefined ? undefined : String.fromCodePoint(code);
}

const isWordChar = (char: string | undefined) => char !== undefined && WORD_CHAR.test(char);

/**
 * A phrase that starts (ends) with a letter or digit must not continue a word on that side.
 * Checked here rather than by the library's boundary callback, which made scans quadratic.
 */
function onWordBoundary(text: string, start: number, end: number): boolean {
  if (isWordChar(charAt(text, start)) && isWordChar(charBefore(text, start))) return false;
  if (isWordChar(charBefore(text, end)) && isWordChar(charAt(text, end))) return false;
  return true;
}

/**
 * Lower case without changing any offset: a character whose lower case has another length
 * (such as `İ`) is kept as it is, so match offsets point into the original text.
 */
export function foldCase(text: string): string {
  const lower = text.toLowerCase();
  if (lower.length === text.length) return lower;
  let folded = '';
  for (const char of text) {
    const low = char.toLowerCase();
    folded += low.length === char.length ? low : char;
  }
  return folded;
}

export class PhraseMatcher<T> {
  private readonly automaton: AhoCorasick<readonly T[]> | null;
  private readonly wordBoundaries: boolean;
  /** UTF-16 length of the longest phrase: how much a stream must hold back. */
  readonly longest: number;

  constructor(phrases: Iterable<readonly [phrase: string, tag: T]>, options: { wordBoundaries: boolean }) {
    const tagsByPhrase = new Map<string, T[]>();
    for (const [phrase, tag] of phrases) {
      const key = foldCase(phrase.trim());
      if (key === '') continue;
      const tags = tagsByPhrase.get(key);
      if (!tags) tagsByPhrase.set(key, [tag]);
      else if (!tags.includes(tag)) tags.push(tag);
    }
    this.longest = Math.max(0, ...[...tagsByPhrase.keys()].map((phrase) => phrase.length));
    const patterns = [...tagsByPhrase].map(([pattern, data]) => ({ pattern, data }));
    this.automaton = patterns.length === 0 ? null : new AhoCorasick(patterns, { boundary: 'none' });
    this.wordBoundaries = options.wordBoundaries;
  }

  /** Leftmost-longest, non-overlapping hits on word boundaries (when asked), in order. */
  find(text: string): PhraseHit<T>[] {
    if (!this.automaton || text === '') return [];
    const folded = foldCase(text);
    // Every occurrence first, so a boundary that rules one out leaves the others in play.
    const all = this.automaton
      .search(folded, { strategy: 'all' })
      .filter((hit) => !this.wordBoundaries || onWordBoundary(folded, hit.start, hit.end))
      .sort((a, b) => a.start - b.start || b.end - a.end);
    const hits: PhraseHit<T>[] = [];
    let reached = 0;
    for (const hit of all) {
      if (hit.start < reached) continue;
      hits.push({ start: hit.start, end: hit.end, tags: hit.data ?? [] });
      reached = hit.end;
    }
    return hits;
  }
}

export const REDACTED = '****';

/**
 * Checks text that arrives in pieces. Each hit is shown to `onHit`, which says whether to
 * redact it. Only the last `longest` characters are held back, so a phrase split across
 * pieces is still found whole, and everything before it is released at once.
 */
export class PhraseWindow<T> {
  private pending = '';
  /** The last released character: the left side of the next word boundary. */
  private context = '';

  constructor(
    private readonly matcher: PhraseMatcher<T>,
    private readonly onHit: (hit: PhraseHit<T>) => { redact: boolean },
  ) {}

  write(text: string): string {
    this.pending += text;
    // One more than the longest phrase, so a hit ending right before the cut has its right neighbour.
    let cut = this.pending.length - this.matcher.longest - 1;
    if (cut > 0 && isHighSurrogate(this.pending.charCodeAt(cut - 1))) cut--;
    return cut > 0 ? this.release(cut, false) : '';
  }

  end(): string {
    return this.release(this.pending.length, true);
  }

  private release(cut: number, final: boolean): string {
    const offset = this.context.length;
    const hits = this.matcher.find(this.context + this.pending);
    let out = '';
    let position = 0;
    let releaseAt = cut;
    for (const hit of hits) {
      const start = hit.start - offset;
      const end = hit.end - offset;
      if (start < 0) continue; // began in text already released and checked
      if (!final && start >= cut) break;
      if (end > releaseAt) releaseAt = end;
      out += this.pending.slice(position, start);
      out += this.onHit({ start, end, tags: hit.tags }).redact ? REDACTED : this.pending.slice(start, end);
      position = end;
    }
    out += this.pending.slice(position, releaseAt);
    const released = this.pending.slice(0, releaseAt);
    this.pending = this.pending.slice(releaseAt);
    this.context = lastCodePoint(released) || this.context;
    return out;
  }
}

/** Runs a whole text through a window: the same rules for a JSON answer as for a stream. */
export function scanWhole<T>(
  matcher: PhraseMatcher<T>,
  text: string,
  onHit: (hit: PhraseHit<T>) => { redact: boolean },
): string {
  const window = new PhraseWindow(matcher, onHit);
  return window.write(text) + window.end();
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

function lastCodePoint(text: string): string {
  if (text.length === 0) return '';
  const last = text.charCodeAt(text.length - 1);
  const isLow = last >= 0xdc00 && last <= 0xdfff;
  return isLow && text.length > 1 ? text.slice(-2) : text.slice(-1);
}
