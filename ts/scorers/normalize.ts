/**
 * SQuAD-style answer normalisation, extended to CJK text: Unicode NFKC (full-width letters and
 * digits become ASCII), lower case, remove punctuation (every Unicode punctuation character —
 * ASCII, CJK and full-width — plus the ASCII symbols $ + < = > ^ ` | ~), remove the English
 * articles a, an, the as whole words, and collapse runs of white space to one space.
 */

const PUNCTUATION = /[\p{P}$+<=>^`|~]/gu;
/** a / an / the not inside a longer word (letters, digits and marks of any script count as word characters). */
const ARTICLES = /(?<![\p{L}\p{N}\p{M}_])(?:a|an|the)(?![\p{L}\p{N}\p{M}_])/gu;

export function normalizeAnswer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(PUNCTUATION, '')
    .replace(ARTICLES, ' ')
    .split(/\s+/u)
    .filter((w) => w !== '')
    .join(' ');
}
