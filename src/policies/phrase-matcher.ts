// Finds phrases in text: case-insensitive, on word boundaries, in time linear in the
// text (Aho-Corasick), never building a regular expression from the phrases or the text.
// Text and phrases are compared in their matching form (matching-text.ts), so lookalike
// letters and invisible characters do not hide a phrase. Also the sliding window that lets
// a stream be checked as it passes.
import AhoCorasick from 'modern-ahocorasick';
import { keepFrom, lastSegmentStart, matchingText, originalEnd, originalStart } from './matching-text.js';

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

/** Whether each BMP code unit is a word character: 0 not yet known, 1 yes, 2 no. */
const wordUnits = new Uint8Array(0x10000);

/** FNV-1a over UTF-16 code units: the text's words are looked up by hash, never sliced out. */
const HASH_SEED = 0x811c9dc5 | 0;
const hashStep = (hash: number, unit: number) => Math.imul(hash ^ unit, 0x01000193);

/** The bit of a word's hash in a matcher's word filter (65,536 bits). */
const filterBit = (hash: number) => (hash ^ (hash >>> 16)) & 0xffff;

/** Whether a hash's filterBit is set in `filter`. */
const inFilter = (filter: Uint32Array, hash: number) => {
  const bit = filterBit(hash);
  return ((filter[bit >>> 5] ?? 0) & (1 << (bit & 31))) !== 0;
};

const addToFilter = (filter: Uint32Array, hash: number) => {
  const bit = filterBit(hash);
  filter[bit >>> 5] = (filter[bit >>> 5] ?? 0) | (1 << (bit & 31));
};

function hashOf(word: string): number {
  let hash = HASH_SEED;
  for (let i = 0; i < word.length; i++) hash = hashStep(hash, word.charCodeAt(i));
  return hash;
}

/**
 * Calls `fn` with every maximal run of word characters whose hash is in `filter` (start,
 * end in UTF-16 offsets, and the run's hashOf); the others, nearly all of a text's words,
 * cost no call. Word characters as WORD_CHAR says, decided once per BMP code unit.
 * The filter stays because large prompts pay for it: it takes 10–20 % off the scan of
 * 100 KB of text (700–870 → 615–685 µs), several % of such a request.
 */
function forEachWordRun(
  text: string,
  filter: Uint32Array,
  fn: (start: number, end: number, hash: number) => void,
): void {
  let start = -1;
  let hash = HASH_SEED;
  for (let i = 0; i < text.length; ) {
    const unit = text.charCodeAt(i);
    let width = 1;
    let word: boolean;
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const code = text.codePointAt(i) ?? unit;
      width = code > 0xffff ? 2 : 1;
      word = WORD_CHAR.test(String.fromCodePoint(code));
    } else {
      let known = wordUnits[unit];
      if (known === 0) {
        known = WORD_CHAR.test(String.fromCharCode(unit)) ? 1 : 2;
        wordUnits[unit] = known;
      }
      word = known === 1;
    }
    if (word) {
      if (start < 0) {
        start = i;
        hash = HASH_SEED;
      }
      hash = hashStep(hash, unit);
      if (width === 2) hash = hashStep(hash, text.charCodeAt(i + 1));
    } else if (start >= 0) {
      if (inFilter(filter, hash)) fn(start, i, hash);
      start = -1;
    }
    i += width;
  }
  if (start >= 0 && inFilter(filter, hash)) fn(start, text.length, hash);
}

/** Marks, joiners and modifiers that belong to the grapheme before them. */
const GRAPHEME_EXTEND = /^(?:\p{M}|\u200c|\u200d|[\u{1F3FB}-\u{1F3FF}]|[\u{E0020}-\u{E007F}])/u;

function continuesGrapheme(text: string, index: number): boolean {
  if (index >= text.length) return false;
  const unit = text.charCodeAt(index);
  // Below U+0300 nothing extends a grapheme (CR LF aside, which are not word characters).
  return unit >= 0x300 && GRAPHEME_EXTEND.test(text.slice(index, index + 2));
}

const isWholeWord = (phrase: string) => [...phrase].every((char) => WORD_CHAR.test(char));
/** The word characters a phrase begins with ('' when it begins with anything else). */
const leadingWord = (phrase: string) => {
  let lead = '';
  for (const char of phrase) {
    if (!WORD_CHAR.test(char)) break;
    lead += char;
  }
  return lead;
};

/** A phrase up to the end of its second word (`ignore all`, `f*ck`): what must follow its first. */
const twoWords = (phrase: string) => {
  const chars = [...phrase];
  let i = 0;
  while (i < chars.length && WORD_CHAR.test(chars[i] ?? '')) i++;
  while (i < chars.length && !WORD_CHAR.test(chars[i] ?? '')) i++;
  while (i < chars.length && WORD_CHAR.test(chars[i] ?? '')) i++;
  return chars.slice(0, i).join('');
};

/** What a word of the text can be: a whole entry, the first word of a longer phrase, or both. */
interface WordEntry<T> {
  word: string;
  tags: readonly T[] | null;
  /** UTF-16 length of the longest automaton phrase this word begins; 0 when it begins none. */
  longestPhrase: number;
  /** Those phrases up to their second word: one of them must follow before the automaton is asked. */
  phraseOpenings: string[];
}

/**
 * On word boundaries, a hit can only start where a word of the text starts, or at the
 * symbol a phrase begins with (`@$$`). Entries that are one word are looked up word by
 * word; the other phrases go to the Aho-Corasick automaton, which only reads the short
 * stretches of text where one of them can begin (all of it when boundaries are off).
 */
export class PhraseMatcher<T> {
  private readonly automaton: AhoCorasick<readonly T[]> | null;
  private readonly wordBoundaries: boolean;
  /** One-word entries and first words of phrases, by hashOf (collisions share the list). */
  private readonly words = new Map<number, WordEntry<T>[]>();
  /**
   * A bit per filterBit of the words' hashes: most words of a text are in no list, and one
   * array read turns them away without a call or a map lookup.
   */
  private readonly wordFilter = new Uint32Array(0x10000 / 32);
  /** First characters of automaton phrases that do not begin with a word. */
  private readonly symbolStarts = new Map<string, number>();
  private readonly longestWord: number;
  /** UTF-16 length of the longest phrase: how much a stream must hold back. */
  readonly longest: number;

  constructor(phrases: Iterable<readonly [phrase: string, tag: T]>, options: { wordBoundaries: boolean }) {
    const tagsByPhrase = new Map<string, T[]>();
    for (const [phrase, tag] of phrases) {
      const key = matchingText(phrase.trim()).text.trim();
      if (key === '') continue;
      const tags = tagsByPhrase.get(key);
      if (!tags) tagsByPhrase.set(key, [tag]);
      else if (!tags.includes(tag)) tags.push(tag);
    }
    this.wordBoundaries = options.wordBoundaries;
    this.longest = Math.max(0, ...[...tagsByPhrase.keys()].map((phrase) => phrase.length));
    const patterns: Array<{ pattern: string; data: readonly T[] }> = [];
    const entry = (word: string) => {
      const hash = hashOf(word);
      const list = this.words.get(hash) ?? [];
      let found = list.find((e) => e.word === word);
      if (!found) {
        found = { word, tags: null, longestPhrase: 0, phraseOpenings: [] };
        list.push(found);
        this.words.set(hash, list);
        addToFilter(this.wordFilter, hash);
      }
      return found;
    };
    for (const [pattern, tags] of tagsByPhrase) {
      if (this.wordBoundaries && isWholeWord(pattern)) {
        entry(pattern).tags = tags;
        continue;
      }
      patterns.push({ pattern, data: tags });
      if (!this.wordBoundaries) continue;
      const lead = leadingWord(pattern);
      if (lead !== '') {
        const word = entry(lead);
        word.longestPhrase = Math.max(word.longestPhrase, pattern.length);
        const opening = twoWords(pattern);
        if (!word.phraseOpenings.includes(opening)) word.phraseOpenings.push(opening);
      } else {
        const first = String.fromCodePoint(pattern.codePointAt(0) ?? 0);
        this.symbolStarts.set(first, Math.max(this.symbolStarts.get(first) ?? 0, pattern.length));
      }
    }
    this.longestWord = Math.max(0, ...[...this.words.values()].flat().map((e) => e.word.length));
    this.automaton = patterns.length === 0 ? null : new AhoCorasick(patterns, { boundary: 'none' });
  }

  /**
   * Leftmost-longest, non-overlapping hits on word boundaries (when asked), in order. Hits
   * that would begin before `startingAt` are not taken, nor do they shadow later ones: the
   * text before it is only there as the left side of a word boundary (see PhraseWindow).
   */
  find(text: string, startingAt = 0): PhraseHit<T>[] {
    if (text === '' || (this.automaton === null && this.words.size === 0)) return [];
    const view = matchingText(text);
    // Offsets below are in the matching form until the hits are mapped back at the end.
    const folded = view.text;
    // Every occurrence first, so a boundary that rules one out leaves the others in play.
    const all: PhraseHit<T>[] = [];
    /** Where an automaton phrase may begin, ascending. */
    const starts: Array<[at: number, longest: number]> = [];
    if (this.words.size > 0) {
      forEachWordRun(folded, this.wordFilter, (start, end, hash) => {
        if (end - start > this.longestWord) return;
        const candidates = this.words.get(hash);
        if (!candidates) return;
        const word = candidates.find((e) => e.word.length === end - start && folded.startsWith(e.word, start));
        if (!word) return;
        // Like the automaton, never a word whose last letter takes a combining mark after it.
        if (word.tags && !continuesGrapheme(folded, end)) all.push({ start, end, tags: word.tags });
        if (word.longestPhrase > 0 && word.phraseOpenings.some((opening) => folded.startsWith(opening, start))) {
          starts.push([start, word.longestPhrase]);
        }
      });
    }
    if (this.automaton) {
      for (const [symbol, longest] of this.symbolStarts) {
        for (let at = folded.indexOf(symbol); at !== -1; at = folded.indexOf(symbol, at + 1))
          starts.push([at, longest]);
      }
      if (this.symbolStarts.size > 0) starts.sort((a, b) => a[0] - b[0]);
      const stretches: Array<[number, number]> = this.wordBoundaries
        ? stretchesFrom(folded, starts)
        : [[0, folded.length]];
      for (const [from, to] of stretches) {
        const part = from === 0 && to === folded.length ? folded : folded.slice(from, to);
        for (const hit of this.automaton.search(part, { strategy: 'all' })) {
          const start = from + hit.start;
          const end = from + hit.end;
          if (!this.wordBoundaries || onWordBoundary(folded, start, end))
            all.push({ start, end, tags: hit.data ?? [] });
        }
      }
    }
    // Back to the original: a hit begins and ends with whole segments of it, and covers the
    // invisible characters inside it but none beside it.
    const found: PhraseHit<T>[] = [];
    for (const hit of all) {
      const start = originalStart(view, hit.start);
      const end = originalEnd(view, hit.end);
      if (start >= 0 && end >= 0) found.push({ start, end, tags: hit.tags });
    }
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    const hits: PhraseHit<T>[] = [];
    let reached = startingAt;
    for (const hit of found) {
      if (hit.start < reached) continue;
      hits.push(hit);
      reached = hit.end;
    }
    return hits;
  }
}

/**
 * The stretches of text the automaton reads, merged: from each possible start up to the
 * longest phrase that can begin there and two more code units (so the grapheme after a
 * hit is whole), begun at a printable ASCII character, before which a grapheme always
 * breaks, so the automaton sees graphemes as they are in the whole text.
 */
function stretchesFrom(text: string, starts: ReadonlyArray<[at: number, longest: number]>): Array<[number, number]> {
  const stretches: Array<[number, number]> = [];
  for (const [start, longest] of starts) {
    let from = start;
    while (from > 0 && !isPrintableAscii(text.charCodeAt(from))) from--;
    const to = Math.min(text.length, start + longest + 2);
    const last = stretches.at(-1);
    if (last && last[1] >= from) last[1] = Math.max(last[1], to);
    else stretches.push([from, to]);
  }
  return stretches;
}

const isPrintableAscii = (unit: number) => unit >= 0x20 && unit <= 0x7e;

export const REDACTED = '****';

/** Characters an observing window gathers before it searches them. */
const OBSERVED_BATCH = 4096;

/**
 * Checks text that arrives in pieces. Each hit is shown to `onHit`, which says whether to
 * redact it. Only the last `longest` characters are held back, so a phrase split across
 * pieces is still found whole, and everything before it is released at once.
 */
export class PhraseWindow<T> {
  private pending = '';
  /** The last released character: the left side of the next word boundary. */
  private context = '';

  /** The most original text held back, in UTF-16 units. */
  private readonly held: number;

  constructor(
    private readonly matcher: PhraseMatcher<T>,
    private readonly onHit: (hit: PhraseHit<T>) => { redact: boolean },
    /** The caller promises onHit never redacts nor blocks (see AnswerFilter.observesOnly). */
    readonly observesOnly = false,
  ) {
    this.held = 16 * (matcher.longest + 1) + 1024;
  }

  /** A whole text at once, on a fresh window: the same as write(text) + end(), with one search. */
  whole(text: string): string {
    let out = '';
    let position = 0;
    for (const hit of this.matcher.find(text)) {
      out += text.slice(position, hit.start);
      out += this.onHit(hit).redact ? REDACTED : text.slice(hit.start, hit.end);
      position = hit.end;
    }
    return position === 0 ? text : out + text.slice(position);
  }

  write(text: string): string {
    this.pending += text;
    // A window that only looks releases nothing anyone waits for: it searches in batches
    // of a few KB instead of once per piece (a stream's pieces are often a word each).
    if (this.observesOnly && this.pending.length <= this.matcher.longest + OBSERVED_BATCH) return '';
    // One more than the longest phrase (in matching form, so invisible characters in between
    // are held back too), so a hit ending right before the cut has its right neighbour.
    let cut = keepFrom(this.pending, this.matcher.longest + 1);
    // A flood of invisible characters or marks is not held back without end: past a bound,
    // a phrase spread over more of them than that is let go.
    const most = this.pending.length - this.held;
    if (cut < most) cut = isLowSurrogate(this.pending.charCodeAt(most)) ? most + 1 : most;
    return cut > 0 ? this.release(cut, false) : '';
  }

  end(): string {
    return this.release(this.pending.length, true);
  }

  private release(cut: number, final: boolean): string {
    const offset = this.context.length;
    // The context decides a word boundary only: a hit in it was settled when it was released.
    const hits = this.matcher.find(this.context + this.pending, offset);
    let out = '';
    let position = 0;
    let releaseAt = cut;
    for (const hit of hits) {
      const start = hit.start - offset;
      const end = hit.end - offset;
      if (!final && start >= cut) break;
      if (end > releaseAt) releaseAt = end;
      out += this.pending.slice(position, start);
      out += this.onHit({ start, end, tags: hit.tags }).redact ? REDACTED : this.pending.slice(start, end);
      position = end;
    }
    out += this.pending.slice(position, releaseAt);
    const released = this.pending.slice(0, releaseAt);
    this.pending = this.pending.slice(releaseAt);
    // The whole last segment, so its matching form (and so the word boundary) is what it is in the whole text.
    const seen = this.context + released;
    this.context = seen.slice(Math.max(lastSegmentStart(seen), seen.length - this.held));
    if (isLowSurrogate(this.context.charCodeAt(0))) this.context = this.context.slice(1);
    return out;
  }
}

/** Runs a whole text through a fresh window: the same hits for a JSON answer or a prompt as for a stream. */
export function scanWhole<T>(
  matcher: PhraseMatcher<T>,
  text: string,
  onHit: (hit: PhraseHit<T>) => { redact: boolean },
): string {
  return new PhraseWindow(matcher, onHit).whole(text);
}

const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;
