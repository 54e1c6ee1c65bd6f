/**
 * Translation of the regular expressions found in HF tokenizer.json files (written for the Rust
 * `regex`/`onig` engines) into JavaScript `u`-mode regular expressions with the same meaning.
 *
 * Differences this fixes (each one changed token ids on real text before it was fixed):
 * - `\s` in Rust is Unicode White_Space; in JavaScript it also matches U+FEFF (BOM) and misses
 *   U+0085 (NEL). We emit `\p{White_Space}` / `\P{White_Space}`.
 * - `\d` and `\w` are Unicode-aware in Rust and ASCII-only in JavaScript.
 * - `(?i:...)` inline case-insensitive groups do not exist in JavaScript before V8 12.5. We expand
 *   groups made of literal text and `|` into per-character classes with Rust's simple case folding
 *   (so `s` also matches U+017F LATIN SMALL LETTER LONG S and `k` U+212A KELVIN SIGN).
 * - Rust accepts `\` before any ASCII punctuation; `u`-mode JavaScript rejects `\#`, `\&`, `\~`,
 *   `\'`, `\"`, `\ `, ... We drop the needless backslash.
 */

/** Rust's `\w` per UTS#18 (Alphabetic, marks, decimal numbers, connector punctuation, joiners). */
const WORD_CLASS_BODY = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
/** Characters that may stay escaped in `u`-mode JavaScript. */
const JS_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
/** Escapes that keep their meaning (letters handled by the JS engine the same way as Rust). */
const KEEP_LETTER_ESCAPES = new Set(['n', 'r', 't', 'f', 'v', 'b', 'B', 'p', 'P', 'x', 'u', '0']);

/** Case variants under Unicode simple case folding, for the letters where that differs from ASCII. */
const EXTRA_FOLDS: Record<string, string> = { s: 'ſ', k: 'K' };

function foldClass(ch: string): string {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  if (lower === upper) return escapeLiteral(ch);
  const set = new Set([lower, upper, ...(EXTRA_FOLDS[lower] ?? '')]);
  return `[${[...set].join('')}]`;
}

function escapeLiteral(ch: string): string {
  return JS_SYNTAX.has(ch) || ch === '-' ? `\\${ch}` : ch;
}

/**
 * Expands a case-insensitive group body made only of literal characters and `|`.
 * Returns null when the body uses other syntax (then we cannot translate it faithfully).
 */
function expandCaseInsensitive(body: string): string | null {
  if (/[\\()[\]{}*+?.^$]/.test(body)) return null;
  return body
    .split('|')
    .map((alt) => [...alt].map(foldClass).join(''))
    .join('|');
}

/** Finds the index of the `)` closing the group opened at `open` (a `(`), or -1. */
function closingParen(src: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

export class RegexTranslationError extends Error {}

/** Translates one Rust-flavoured regex source into a JavaScript `u`-mode regex source. */
export function rustRegexToJs(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) throw new RegexTranslationError('pattern ends with a lone backslash');
      i++;
      switch (n) {
        case 's':
          out += '\\p{White_Space}';
          break;
        case 'S':
          out += '\\P{White_Space}';
          break;
        case 'd':
          out += '\\p{Nd}';
          break;
        case 'D':
          out += '\\P{Nd}';
          break;
        case 'w':
          out += inClass ? WORD_CLASS_BODY : `[${WORD_CLASS_BODY}]`;
          break;
        case 'W':
          if (inClass) throw new RegexTranslationError('\\W inside a character class is not supported');
          out += `[^${WORD_CLASS_BODY}]`;
          break;
        case 'p':
        case 'P': {
          // \pL (one-letter form) → \p{L}
          if (src[i + 1] === '{') {
            const end = src.indexOf('}', i + 1);
            out += `\\${n}${src.slice(i + 1, end + 1)}`;
            i = end;
          } else {
            out += `\\${n}{${src[i + 1]}}`;
            i++;
          }
          break;
        }
        default:
          if (/[A-Za-z0-9]/.test(n)) {
            if (!KEEP_LETTER_ESCAPES.has(n)) throw new RegexTranslationError(`unsupported escape \\${n}`);
            out += `\\${n}`;
          } else if (JS_SYNTAX.has(n) || (inClass && n === '-')) {
            out += `\\${n}`;
          } else {
            out += n; // needless escape of punctuation or whitespace
          }
      }
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // a leading ']' or '^]' is a literal in Rust
      if (src[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (src[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && src.startsWith('(?i:', i)) {
      const close = closingParen(src, i);
      const expanded = close < 0 ? null : expandCaseInsensitive(src.slice(i + 4, close));
      if (expanded === null) throw new RegexTranslationError('unsupported (?i:...) group');
      out += `(?:${expanded})`;
      i = close;
      continue;
    }
    if (c === '(' && src[i + 1] === '?' && src[i + 2] !== ':' && src[i + 2] !== '=' && src[i + 2] !== '!' && src[i + 2] !== '<') {
      throw new RegexTranslationError(`unsupported group syntax at offset ${i}`);
    }
    out += c;
  }
  // Validate here so a bad pattern fails at load time with a clear message.
  new RegExp(out, 'gu');
  return out;
}
