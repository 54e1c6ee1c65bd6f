/**
 * Tokens for text scorers: white-space separated words, except that every Chinese character
 * (Han), Japanese kana and Bopomofo character is a token of its own, since those scripts do not
 * put spaces between words. Hangul is written with spaces between words, so it stays word-level.
 * `Hello世界 ok` → [`Hello`, `世`, `界`, `ok`].
 */
const CJK_CHAR = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Bopomofo}\u30fc]$/u;

export function isCjkChar(ch: string): boolean {
  return CJK_CHAR.test(ch);
}

export function tokenizeForScoring(text: string): string[] {
  const tokens: string[] = [];
  for (const word of text.split(/\s+/u)) {
    let run = '';
    for (const ch of word) {
      if (isCjkChar(ch)) {
        if (run !== '') tokens.push(run);
        run = '';
        tokens.push(ch);
      } else run += ch;
    }
    if (run !== '') tokens.push(run);
  }
  return tokens;
}
