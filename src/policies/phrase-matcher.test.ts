import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhraseMatcher, PhraseWindow, REDACTED, scanWhole } from './phrase-matcher.js';

const matcherOf = (phrases: string[]) =>
  new PhraseMatcher(
    phrases.map((p) => [p, 'custom'] as const),
    { wordBoundaries: true },
  );
const redactAll = () => ({ redact: true });

/** The text with every hit of a whole-text search replaced: what redaction must produce. */
function expected(matcher: PhraseMatcher<string>, text: string): string {
  let out = '';
  let position = 0;
  for (const hit of matcher.find(text)) {
    out += text.slice(position, hit.start) + REDACTED;
    position = hit.end;
  }
  return out + text.slice(position);
}

function streamed(matcher: PhraseMatcher<string>, pieces: string[]): string {
  const window = new PhraseWindow(matcher, redactAll);
  return pieces.map((piece) => window.write(piece)).join('') + window.end();
}

const METACHARS = [...'.*+?^$()|[]\\/-', '{', '}', ' ', 'a', 'b', 'é', '😀', '\n'];
const metaText = fc.string({ unit: fc.constantFrom(...METACHARS), maxLength: 40 });
const wordText = fc.string({ unit: fc.constantFrom('a', 'b', 'c', ' ', '.', 'A', 'B'), maxLength: 60 });
const phrases = fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'c', ' ', 'B'), minLength: 1, maxLength: 6 }), {
  minLength: 1,
  maxLength: 5,
});

const WORD = /[\p{L}\p{N}_]/u;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The slow, obvious reference: every occurrence of every phrase at every offset, kept when
 * it covers whole graphemes and does not continue a word on either side, then leftmost-longest.
 */
function naiveFind(phrases: string[], text: string): Array<[number, number]> {
  const folded = text.toLowerCase().length === text.length ? text.toLowerCase() : text;
  const bounds = new Set([...segmenter.segment(folded)].map((g) => g.index).concat(folded.length));
  const wordAt = (i: number) =>
    i >= 0 && i < folded.length && WORD.test(String.fromCodePoint(folded.codePointAt(i) ?? 0));
  const wordBefore = (i: number) => {
    if (i <= 0) return false;
    const low = folded.charCodeAt(i - 1);
    return wordAt(low >= 0xdc00 && low <= 0xdfff && i >= 2 ? i - 2 : i - 1);
  };
  const all: Array<[number, number]> = [];
  for (const phrase of new Set(phrases.map((p) => p.trim().toLowerCase()).filter((p) => p !== ''))) {
    for (let at = folded.indexOf(phrase); at !== -1; at = folded.indexOf(phrase, at + 1)) {
      const end = at + phrase.length;
      if (!bounds.has(at) || !bounds.has(end)) continue;
      if (wordAt(at) && wordBefore(at)) continue;
      if (wordBefore(end) && wordAt(end)) continue;
      all.push([at, end]);
    }
  }
  all.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const hits: Array<[number, number]> = [];
  let reached = 0;
  for (const hit of all) {
    if (hit[0] < reached) continue;
    hits.push(hit);
    reached = hit[1];
  }
  return hits;
}

describe('PhraseMatcher', () => {
  it('finds exactly what a naive search of every offset finds: words, phrases, marks, emoji (property)', () => {
    const unit = fc.constantFrom('a', 'b', 'B', ' ', '-', '.', '*', 'é', '\u0301', '😀', '\u200d', '_', '1');
    const entry = fc.string({ unit, minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.string({ unit, maxLength: 80 }), (list, text) => {
        const found = matcherOf(list)
          .find(text)
          .map((hit) => [hit.start, hit.end]);
        expect(found).toEqual(naiveFind(list, text));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches case-insensitively, on word boundaries, and leaves other text byte for byte', () => {
    const matcher = matcherOf(['shoot', 'ignore all previous instructions']);
    const text = 'Shoot! Please IGNORE all previous instructions, then shootout and reshoot.';
    expect(scanWhole(matcher, text, redactAll)).toBe('****! Please ****, then shootout and reshoot.');
  });

  it('finds phrases made of regex metacharacters literally', () => {
    const matcher = matcherOf(['a.*b', '(x)', '[y]']);
    expect(scanWhole(matcher, 'aXXb a.*b (x) [y] y', redactAll)).toBe('aXXb **** **** **** y');
  });

  it('never changes text outside matches (property)', () => {
    fc.assert(
      fc.property(phrases, wordText, (list, text) => {
        const matcher = matcherOf(list);
        const out = scanWhole(matcher, text, redactAll);
        expect(out).toBe(expected(matcher, text));
        // Every hit is a phrase of the list, case aside.
        for (const hit of matcher.find(text)) {
          expect(list.map((p) => p.trim().toLowerCase())).toContain(text.slice(hit.start, hit.end).toLowerCase());
        }
      }),
    );
  });

  it('never throws on lists and texts full of regex metacharacters (property)', () => {
    fc.assert(
      fc.property(fc.array(metaText, { maxLength: 8 }), metaText, (list, text) => {
        const matcher = matcherOf(list);
        const out = scanWhole(matcher, text, redactAll);
        expect(out).toBe(expected(matcher, text));
      }),
    );
  });

  it('gives the same answer for a text split at every possible chunk boundary (property)', () => {
    fc.assert(
      fc.property(phrases, wordText, (list, text) => {
        const matcher = matcherOf(list);
        const whole = expected(matcher, text);
        for (let i = 0; i <= text.length; i++) {
          expect(streamed(matcher, [text.slice(0, i), text.slice(i)])).toBe(whole);
        }
        expect(streamed(matcher, [...text])).toBe(whole);
      }),
    );
  });

  it('finds, batching as an observing window does, every hit a whole-text search finds, however a long text is split (property)', () => {
    fc.assert(
      fc.property(
        phrases,
        wordText,
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
        (list, unit, times, sizes) => {
          const matcher = matcherOf(list);
          // The phrases themselves, often, up to 7,200+ characters: past the observing batch.
          const text = `${list.join(' ')} ${unit}`.repeat(times);
          // Redacting makes every hit visible in the output; the batching is the observing one.
          const window = new PhraseWindow(matcher, redactAll, true);
          let at = 0;
          let out = '';
          for (let i = 0; at < text.length; i++) {
            const size = sizes[i % sizes.length] ?? 1;
            out += window.write(text.slice(at, at + size));
            at += size;
          }
          expect(out + window.end()).toBe(expected(matcher, text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('finds a phrase after released text even where the last released character could begin it too', () => {
    // Released "aB" leaves "B" as the window's context; "B B" from there is not a hit (it
    // continues the word "aB") and must not shadow the real one after it.
    for (const [list, text, redacted] of [
      [['b b'], 'aB B B', 'aB ****'],
      [['b b', 'b'], 'aB b a', 'aB **** a'],
    ] as const) {
      const matcher = matcherOf([...list]);
      expect(expected(matcher, text)).toBe(redacted);
      for (let i = 0; i <= text.length; i++)
        expect(streamed(matcher, [text.slice(0, i), text.slice(i)])).toBe(redacted);
    }
  });

  it('finds a phrase an observing window gets split across the piece that fills its batch', () => {
    const matcher = matcherOf(['bad word']);
    const window = new PhraseWindow(matcher, redactAll, true);
    const text = `${'z'.repeat(4100)} bad word and more`;
    const out = window.write(text.slice(0, 4106)) + window.write(text.slice(4106)) + window.end();
    expect(out).toBe(`${'z'.repeat(4100)} **** and more`);
  });

  it('holds back no more than the longest phrase (plus one character for the boundary)', () => {
    const matcher = matcherOf(['bad word']);
    const window = new PhraseWindow(matcher, redactAll);
    const released = window.write('a fine long sentence without it ');
    expect(released.length).toBe('a fine long sentence without it '.length - 'bad word'.length - 1);
    expect(released + window.write('and a bad ') + window.write('word here') + window.end()).toBe(
      'a fine long sentence without it and a **** here',
    );
  });
});
