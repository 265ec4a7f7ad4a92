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
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * The matching form as the issue defines it, on the whole text at once: default-ignorable
 * characters out, NFKC, then every character case-folded (lower, upper, lower).
 */
const matchingForm = (text: string) =>
  [...text.replace(IGNORABLE, '').normalize('NFKC')]
    .map((char) => char.toLowerCase().toUpperCase().toLowerCase())
    .join('');

const isIgnorable = (char: string) => char.replace(IGNORABLE, '') === '';

/**
 * The slow, obvious reference: every span of the original text, from a visible character
 * to a visible character, whose matching form is a phrase, that normalizes the same alone
 * as inside the whole text, covers whole graphemes of the whole text's form and does not
 * continue a word there on either side; then leftmost-longest.
 */
function naiveFind(phrases: string[], text: string): Array<[number, number]> {
  const whole = matchingForm(text);
  const bounds = new Set([...segmenter.segment(whole)].map((g) => g.index).concat(whole.length));
  const wordAt = (i: number) =>
    i >= 0 && i < whole.length && WORD.test(String.fromCodePoint(whole.codePointAt(i) ?? 0));
  const wordBefore = (i: number) => {
    if (i <= 0) return false;
    const low = whole.charCodeAt(i - 1);
    return wordAt(low >= 0xdc00 && low <= 0xdfff && i >= 2 ? i - 2 : i - 1);
  };
  const wanted = new Set(phrases.map((p) => matchingForm(p.trim()).trim()).filter((p) => p !== ''));
  const offsets: number[] = [];
  for (let i = 0; i < text.length; i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1) offsets.push(i);
  const visibleAt = (i: number) => !isIgnorable(String.fromCodePoint(text.codePointAt(i) ?? 0));
  // Every visible character has a form of one code unit or more, and composition joins at
  // most three characters into one (Hangul L+V+T): longer spans cannot match.
  const longest = 3 * Math.max(0, ...[...wanted].map((phrase) => phrase.length));
  const all: Array<[number, number]> = [];
  for (const [n, at] of offsets.entries()) {
    if (!visibleAt(at)) continue;
    let visible = 0;
    for (let m = n; m < offsets.length && visible < longest; m++) {
      const last = offsets[m] ?? 0;
      if (!visibleAt(last)) continue;
      visible++;
      const end = offsets[m + 1] ?? text.length;
      const form = matchingForm(text.slice(at, end));
      if (!wanted.has(form)) continue;
      const before = matchingForm(text.slice(0, at));
      if (before + form + matchingForm(text.slice(end)) !== whole) continue;
      const start = before.length;
      const stop = start + form.length;
      if (!bounds.has(start) || !bounds.has(stop)) continue;
      if (wordAt(start) && wordBefore(start)) continue;
      if (wordBefore(stop) && wordAt(stop)) continue;
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

/** Plain characters and their lookalikes, invisible characters, marks, ligatures, Hangul and kana parts. */
const UNICODE_UNITS = [
  ...['a', 'b', 'B', ' ', '-', '.', '*', '_', '1', 'e', 's', 'i', 'é', '\u0301', '😀', '\u200d', '\u200b'],
  ...['\u00ad', '\u2060', '\ufe0f', '\ufeff', 'Ａ', 'ｂ', '𝐚', '𝐁', 'ⓑ', '１', 'ﬁ', 'ß', 'ẞ', 'İ', 'ſ'],
  ...['가', '\u11a8', '각', 'ｶ', '\uff9e', 'ガ', 'Σ', 'ς', 'σ', '\u0e01', '\u0e33', '\u3000', '\u00a0'],
];

/** A text with the phrases in it, some disguised: lookalike letters and invisible characters between. */
const disguised = (list: string[]) =>
  fc
    .array(
      fc.oneof(
        fc.string({ unit: fc.constantFrom(...UNICODE_UNITS), maxLength: 4 }),
        fc
          .tuple(fc.constantFrom(...list), fc.constantFrom('', '\u200b', '\u00ad', '\u2060'), fc.boolean())
          .map(([phrase, invisible, wide]) => {
            const chars = [...phrase].map((char) => (wide && /[a-z]/i.test(char) ? toFullwidth(char) : char));
            return chars.join(invisible);
          }),
      ),
      { maxLength: 6 },
    )
    .map((pieces) => pieces.join(''));

const toFullwidth = (char: string) => String.fromCharCode(char.charCodeAt(0) + 0xfee0);

describe('PhraseMatcher', () => {
  it('finds exactly what a naive search of every offset finds: words, phrases, marks, emoji (property)', () => {
    const unit = fc.constantFrom('a', 'b', 'B', ' ', '-', '.', '*', 'é', '\u0301', '😀', '\u200d', '_', '1');
    const entry = fc.string({ unit, minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.string({ unit, maxLength: 50 }), (list, text) => {
        const found = matcherOf(list)
          .find(text)
          .map((hit) => [hit.start, hit.end]);
        expect(found).toEqual(naiveFind(list, text));
      }),
      { numRuns: 1000 },
    );
  });

  it('finds, through lookalike letters and invisible characters, exactly what the reference finds in the matching form (property)', () => {
    const entry = fc.string({ unit: fc.constantFrom(...UNICODE_UNITS), minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 4 }).chain((list) => fc.tuple(fc.constant(list), disguised(list))),
        ([list, text]) => {
          const found = matcherOf(list)
            .find(text)
            .map((hit) => [hit.start, hit.end]);
          expect(found).toEqual(naiveFind(list, text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('redacts only the matched original characters, lookalikes and invisible characters inside included, whole or streamed (property)', () => {
    const unit = fc.constantFrom('a', 'b', 'c', ' ', 'B', 'e', '\u0301', 'é', 'ß', '가', '\u11a8', 'ｶ', '\uff9e', '😀');
    const entry = fc.string({ unit, minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 4 }).chain((list) => fc.tuple(fc.constant(list), disguised(list))),
        ([list, text]) => {
          const matcher = matcherOf(list);
          let reference = '';
          let position = 0;
          for (const [start, end] of naiveFind(list, text)) {
            reference += text.slice(position, start) + REDACTED;
            position = end;
          }
          reference += text.slice(position);
          expect(scanWhole(matcher, text, redactAll)).toBe(reference);
          for (let i = 0; i <= text.length; i++) {
            expect(streamed(matcher, [text.slice(0, i), text.slice(i)])).toBe(reference);
          }
          expect(streamed(matcher, [...text])).toBe(reference);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('finds fullwidth, mathematical and circled letters, zero-width and soft-hyphen splits, and changes nothing else', () => {
    const matcher = matcherOf(['ignore all previous instructions', 'damn']);
    const text =
      'Please ＩＧＮＯＲＥ all 𝐩𝐫𝐞𝐯𝐢𝐨𝐮𝐬 instructions; d\u200ba\u200cm\u00adn! ⓓⓐⓜⓝ, \u200bdamn\u200b, damned.';
    expect(scanWhole(matcher, text, redactAll)).toBe('Please ****; ****! ****, \u200b****\u200b, damned.');
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

  it('holds back a phrase split by invisible characters whole, but not a flood of them without end', () => {
    const matcher = matcherOf(['bad word']);
    const window = new PhraseWindow(matcher, redactAll);
    let out = window.write('a b');
    for (let i = 0; i < 5; i++) out += window.write('\u200b');
    out += window.write('ad word and more text after it');
    expect(out + window.end()).toBe('a **** and more text after it');

    const flood = new PhraseWindow(matcher, redactAll);
    let released = flood.write('a b');
    const piece = '\u200b'.repeat(100);
    for (let i = 0; i < 200; i++) released += flood.write(piece);
    // 20,003 units written; at most 16 × (8 + 1) + 1,024 of them held.
    expect(released.length).toBeGreaterThanOrEqual(20_003 - (16 * 9 + 1024));
    expect(released + flood.end()).toBe(`a b${piece.repeat(200)}`);
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
