// The form of a text that phrases are matched on: NFKC (fullwidth, mathematical and other
// compatibility letters become plain ones), case-folded, and without default-ignorable
// characters (zero-width spaces and joiners, soft hyphens, variation selectors and the
// other invisible format characters) — with the way back from each offset of that form to
// the original text, so a hit covers, and redaction changes, only the characters it matched.

/**
 * The text is normalized segment by segment: a segment is a character that begins one
 * (a starter) with the marks and other characters that attach to it, the ignorable ones
 * inside it dropped. Canonical composition never crosses from one segment into the next,
 * so the segments' forms put together are the whole text's form, and a hit can be mapped
 * back to whole original characters.
 */
export interface MatchingText {
  /** The form matched on. */
  readonly text: string;
  /**
   * Where the segment beginning at each offset of `text` begins in the original, -1 inside
   * a segment's form; null when every offset is its own (the form has the original's offsets).
   */
  readonly starts: readonly number[] | null;
  /** Where the segment ending at each offset of `text` ends in the original (-1 inside), as `starts`. */
  readonly ends: readonly number[] | null;
}

const IGNORABLE = 1;
const EXTENDS = 2;
const STARTS = 3;
/** A Hangul vowel or final consonant: extends a Hangul character before it (they compose), else starts. */
const HANGUL_TAIL = 4;

const isHangul = (code: number) =>
  (code >= 0x1100 && code <= 0x11ff) || (code >= 0xa960 && code <= 0xa97f) || (code >= 0xac00 && code <= 0xd7ff);

const DEFAULT_IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
const ATTACHES = /^[\p{M}\p{Grapheme_Extend}\p{Emoji_Modifier}]$/u;
const MARK_FIRST = /^\p{M}/u;

/** Each BMP character's kind, worked out once (0: not yet). */
const bmpKinds = new Uint8Array(0x10000);

function kindOf(code: number): number {
  if (code < 0x80) return STARTS;
  if (code <= 0xffff) {
    let kind = bmpKinds[code] ?? 0;
    if (kind === 0) {
      kind = classify(code);
      bmpKinds[code] = kind;
    }
    return kind;
  }
  return classify(code);
}

function classify(code: number): number {
  const char = String.fromCodePoint(code);
  if (DEFAULT_IGNORABLE.test(char)) return IGNORABLE;
  if (ATTACHES.test(char)) return EXTENDS;
  if ((code >= 0x1160 && code <= 0x11ff) || (code >= 0xd7b0 && code <= 0xd7ff)) return HANGUL_TAIL;
  // Characters whose compatibility form begins with a mark (halfwidth voiced sound marks, Thai SARA AM).
  if (MARK_FIRST.test(char.normalize('NFKC'))) return EXTENDS;
  return STARTS;
}

/** Case folding per character: lower, upper, lower again, so `ß`, `ẞ` and `SS` all become `ss`. */
function fold(text: string): string {
  let out = '';
  for (const char of text) out += char.toLowerCase().toUpperCase().toLowerCase();
  return out;
}

/** Each BMP character's form, alone in its segment, worked out once. */
const bmpForms: Array<string | undefined> = new Array(0x10000).fill(undefined);
const astralForms = new Map<number, string>();
const MAX_ASTRAL_FORMS = 4096;

function formOfCharacter(code: number): string {
  if (code <= 0xffff) {
    let form = bmpForms[code];
    if (form === undefined) {
      form = fold(String.fromCharCode(code).normalize('NFKC'));
      bmpForms[code] = form;
    }
    return form;
  }
  let form = astralForms.get(code);
  if (form === undefined) {
    form = fold(String.fromCodePoint(code).normalize('NFKC'));
    if (astralForms.size >= MAX_ASTRAL_FORMS) astralForms.clear();
    astralForms.set(code, form);
  }
  return form;
}

const NON_ASCII = /[\u0080-\uffff]/;
const HAS_IGNORABLE_OR_SIGMA = /[\p{Default_Ignorable_Code_Point}\u03a3\u03c2\u03c3]/u;

/** The form of `text` that phrases are matched on, and the way back to `text`. */
export function matchingText(text: string): MatchingText {
  // ASCII, nearly all text an API sees: its form is its lower case, offset for offset.
  if (!NON_ASCII.test(text)) return { text: text.toLowerCase(), starts: null, ends: null };
  // Most other text is already in NFKC, has nothing invisible, and folds character for
  // character to the same length: its form keeps its offsets too, found by native passes.
  // (Sigma is left to the general way: a whole text lowers Σ at the end of a word to ς.)
  if (!HAS_IGNORABLE_OR_SIGMA.test(text) && text.normalize('NFKC') === text) {
    const folded = text.toLowerCase().toUpperCase().toLowerCase();
    // No character's fold is shorter than itself, so equal lengths mean each kept its own.
    if (folded.length === text.length) return { text: folded, starts: null, ends: null };
  }
  return mappedForm(text);
}

const ASCII_RUN = /[^\u0080-\uffff]+/y;

/** The general way: segment by segment, with the offsets kept once they stop being the original's. */
function mappedForm(text: string): MatchingText {
  const parts: string[] = [];
  let length = 0;
  // Filled once a segment's form differs in length from it or an ignorable character is
  // dropped; until then every offset is the original's.
  let starts: number[] | null = null;
  let ends: number[] | null = null;
  let segmentStart = -1;
  let segmentEnd = -1;
  /** The segment's characters without the ignorable ones; '' while it is one character, `code`. */
  let joined = '';
  let code = -1;
  /** The last character that is not ignorable. */
  let previous = -1;

  const emit = (form: string, from: number, to: number) => {
    if (starts === null && (form.length !== to - from || from !== length)) {
      starts = [];
      ends = [];
      for (let i = 0; i < length; i++) {
        starts.push(i);
        ends.push(i + 1);
      }
    }
    if (starts !== null && ends !== null) {
      for (let i = 0; i < form.length; i++) {
        starts.push(i === 0 ? from : -1);
        ends.push(i === form.length - 1 ? to : -1);
      }
    }
    parts.push(form);
    length += form.length;
  };
  const flush = () => {
    if (segmentStart === -1) return;
    emit(joined === '' ? formOfCharacter(code) : fold(joined.normalize('NFKC')), segmentStart, segmentEnd);
    segmentStart = -1;
  };

  for (let i = 0; i < text.length; ) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      flush();
      // A run of ASCII: each character is a segment of its own, but the last, which a mark may follow.
      ASCII_RUN.lastIndex = i;
      ASCII_RUN.test(text);
      const last = ASCII_RUN.lastIndex - 1;
      if (last > i) {
        const run = text.slice(i, last);
        if (starts === null && i === length) {
          parts.push(run.toLowerCase());
          length += run.length;
        } else {
          for (let k = i; k < last; k++) emit(text.charAt(k).toLowerCase(), k, k + 1);
        }
      }
      segmentStart = last;
      segmentEnd = last + 1;
      joined = '';
      code = text.charCodeAt(last);
      previous = code;
      i = last + 1;
      continue;
    }
    const point = text.codePointAt(i) ?? 0;
    const width = point > 0xffff ? 2 : 1;
    const kind = kindOf(point);
    if (kind === IGNORABLE) {
      // Dropped from the form (the offsets after it are mapped from then on); a hit
      // around it still covers it, one beside it does not.
      i += width;
      continue;
    }
    const begins = kind === STARTS || (kind === HANGUL_TAIL && !isHangul(previous));
    previous = point;
    if (begins || segmentStart === -1) {
      flush();
      segmentStart = i;
      joined = '';
      code = point;
    } else {
      if (joined === '') joined = String.fromCodePoint(code);
      joined += String.fromCodePoint(point);
    }
    segmentEnd = i + width;
    i += width;
  }
  flush();
  const form = parts.join('');
  return starts === null ? { text: form, starts: null, ends: null } : { text: form, starts, ends };
}

/** The original offset where a hit beginning at `at` of the form begins; -1 when that is inside a segment. */
export function originalStart(view: MatchingText, at: number): number {
  return view.starts === null ? at : (view.starts[at] ?? -1);
}

/** The original offset where a hit ending at `at` of the form ends; -1 when that is inside a segment. */
export function originalEnd(view: MatchingText, at: number): number {
  return view.ends === null ? at : (view.ends[at - 1] ?? -1);
}

/**
 * Where the segment that ends `text` begins: a cut there leaves every segment before it
 * whole, whatever characters come next. 0 when the text is one segment.
 */
export function lastSegmentStart(text: string): number {
  let i = text.length;
  while (i > 0) {
    const low = text.charCodeAt(i - 1);
    const width = low >= 0xdc00 && low <= 0xdfff && i >= 2 ? 2 : 1;
    i -= width;
    const kind = kindOf(text.codePointAt(i) ?? 0);
    if (kind === STARTS || (kind === HANGUL_TAIL && !isHangul(visibleBefore(text, i)))) return i;
  }
  return 0;
}

/** The last character before `at` that is not ignorable; -1 when there is none. */
function visibleBefore(text: string, at: number): number {
  let i = at;
  while (i > 0) {
    const low = text.charCodeAt(i - 1);
    i -= low >= 0xdc00 && low <= 0xdfff && i >= 2 ? 2 : 1;
    const code = text.codePointAt(i) ?? 0;
    if (kindOf(code) !== IGNORABLE) return code;
  }
  return -1;
}

/**
 * The offset to keep `text` from so that what is kept has at least `units` code units of
 * form and begins a segment; 0 or less when the whole text is needed.
 */
export function keepFrom(text: string, units: number): number {
  if (!NON_ASCII.test(text)) return text.length - units;
  let kept = 0;
  let end = text.length;
  while (end > 0) {
    const start = lastSegmentStart(text.slice(0, end));
    kept += matchingText(text.slice(start, end)).text.length;
    if (kept >= units) return start;
    end = start;
  }
  return 0;
}
