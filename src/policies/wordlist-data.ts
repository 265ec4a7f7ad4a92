// The words of each wordlist: profanity from profane-words and obscenity's English
// dataset, adult and dan (prompt injection) from curated files under data/wordlists.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { englishDataset } from 'obscenity';
import type { WordlistName } from '../policy-settings.js';

const require = createRequire(import.meta.url);

/** One phrase a line; blank lines and `#` comments skipped. Same path from src/ and dist/. */
function readListFile(name: string): string[] {
  const url = new URL(`../../data/wordlists/${name}.txt`, import.meta.url);
  return readFileSync(url, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function profanity(): string[] {
  const words = new Set<string>(require('profane-words') as string[]);
  // obscenity's English dataset names the word behind each of its patterns.
  for (const term of englishDataset.build().blacklistedTerms) {
    const payload = { termId: term.id, startIndex: 0, endIndex: 0, matchLength: 0 };
    const word = englishDataset.getPayloadWithPhraseMetadata(payload).phraseMetadata?.originalWord;
    if (typeof word === 'string') words.add(word);
  }
  return [...words];
}

let builtIn: Readonly<Record<Exclude<WordlistName, 'custom'>, readonly string[]>> | undefined;

/** The built-in lists, read once on first use. */
export function builtInWordlists(): Readonly<Record<Exclude<WordlistName, 'custom'>, readonly string[]>> {
  builtIn ??= Object.freeze({ profanity: profanity(), adult: readListFile('adult'), dan: readListFile('dan') });
  return builtIn;
}
