/**
 * Builds a @lenml/tokenizers (transformers.js) tokenizer from tokenizer.json and brings its
 * behaviour in line with the Rust `tokenizers` library where they differ.
 *
 * Fixes applied (see docs/formats.md, "Tokenizers and chat templates"):
 * - every `{"Regex": ...}` pattern is translated with rustRegexToJs (Unicode `\s`, `\d`, `\w`,
 *   `(?i:...)` with case folding);
 * - the GPT-2 regex built into the ByteLevel pre-tokenizer (use_regex) gets the same translation;
 * - the Split pre-tokenizer honours all five delimiter behaviours and `invert` (the library
 *   handles only Isolated and Removed);
 * - Whitespace, WhitespaceSplit, Digits and Bert pre-tokenizers use Unicode classes as Rust does;
 * - the Metaspace pre-tokenizer honours `prepend_scheme` and `split`, and the Metaspace decoder
 *   drops the replacement characters of the first token as Rust does.
 */
import { tokenizers } from '@lenml/tokenizers';
import { rustRegexToJs } from './regex';

/** The subset of the library's tokenizer object that we use. */
export interface LibTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean | null }): string;
  model: { vocab: (string | undefined)[]; tokens_to_ids: Map<string, number> };
  added_tokens: { content: string; id: number; special: boolean }[];
  special_tokens: string[];
  pre_tokenizer: unknown;
}

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Rewrites regex patterns in place in the parts of tokenizer.json that hold them. */
function translatePatterns(node: unknown): void {
  if (Array.isArray(node)) {
    for (const x of node) translatePatterns(x);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const pattern = obj['pattern'];
  if (pattern && typeof pattern === 'object' && typeof (pattern as Record<string, unknown>)['Regex'] === 'string') {
    const p = pattern as { Regex: string };
    p.Regex = rustRegexToJs(p.Regex);
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k !== 'pattern') translatePatterns(v);
  }
}

type Behavior = 'removed' | 'isolated' | 'mergedwithprevious' | 'mergedwithnext' | 'contiguous';

/** The Rust Split pre-tokenizer: segments marked as delimiter or not, then merged per behaviour. */
export function splitLikeRust(text: string, re: RegExp, behavior: Behavior, invert: boolean): string[] {
  const segs: { s: number; e: number; delim: boolean }[] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    const start = m.index!;
    const end = start + m[0].length;
    // An empty match is kept: it is a split point (Rust splits "ab" on "" into "a", "b").
    if (start > prev) segs.push({ s: prev, e: start, delim: invert });
    segs.push({ s: start, e: end, delim: !invert });
    prev = end;
  }
  if (prev < text.length) segs.push({ s: prev, e: text.length, delim: invert });

  let out: { s: number; e: number }[] = [];
  switch (behavior) {
    case 'removed':
      out = segs.filter((x) => !x.delim);
      break;
    case 'isolated':
      out = segs;
      break;
    case 'mergedwithprevious': {
      let prevDelim = false;
      for (const x of segs) {
        const last = out[out.length - 1];
        if (x.delim && !prevDelim && last) last.e = x.e;
        else out.push({ s: x.s, e: x.e });
        prevDelim = x.delim;
      }
      break;
    }
    case 'mergedwithnext': {
      let prevDelim = false;
      for (let i = segs.length - 1; i >= 0; i--) {
        const x = segs[i]!;
        const last = out[out.length - 1];
        if (x.delim && !prevDelim && last) last.s = x.s;
        else out.push({ s: x.s, e: x.e });
        prevDelim = x.delim;
      }
      out.reverse();
      break;
    }
    case 'contiguous': {
      let prevDelim = false;
      for (const x of segs) {
        const last = out[out.length - 1];
        if (x.delim === prevDelim && last) last.e = x.e;
        else out.push({ s: x.s, e: x.e });
        prevDelim = x.delim;
      }
      break;
    }
  }
  return out.filter((x) => x.e > x.s).map((x) => text.slice(x.s, x.e));
}

interface PreTok {
  config?: Record<string, unknown>;
  tokenizers?: PreTok[];
  pattern?: RegExp | null;
  use_regex?: boolean;
  pre_tokenize_text?: (text: string, options?: unknown) => string[];
}

/**
 * Walks the pre-tokenizer tree alongside its tokenizer.json configuration (not every library
 * class keeps its config) and replaces the behaviour that differs from Rust.
 */
function patchPreTokenizer(p: PreTok | null | undefined, config: Record<string, unknown> | null | undefined): void {
  if (!p || !config) return;
  if (config['type'] === 'Sequence') {
    const subs = (config['pretokenizers'] ?? []) as Record<string, unknown>[];
    if (!Array.isArray(p.tokenizers) || p.tokenizers.length !== subs.length) return;
    p.tokenizers.forEach((t, i) => patchPreTokenizer(t, subs[i]));
    return;
  }
  p.config = config;
  const type = config['type'];
  switch (type) {
    case 'ByteLevel':
      p.pattern = new RegExp(rustRegexToJs(GPT2_REGEX), 'gu');
      break;
    case 'Split': {
      const cfg = p.config as { pattern: { Regex?: string; String?: string }; behavior?: string; invert?: boolean };
      const re = cfg.pattern.Regex !== undefined
        ? new RegExp(cfg.pattern.Regex, 'gu') // already translated
        : new RegExp(escapeRegExp(cfg.pattern.String ?? ''), 'gu');
      const behavior = (cfg.behavior ?? 'Isolated').toLowerCase() as Behavior;
      const invert = cfg.invert ?? false;
      p.pre_tokenize_text = (text: string) => splitLikeRust(text, re, behavior, invert);
      break;
    }
    case 'Whitespace': {
      const re = new RegExp(rustRegexToJs('\\w+|[^\\w\\s]+'), 'gu');
      p.pre_tokenize_text = (text: string) => text.match(re) ?? [];
      break;
    }
    case 'Metaspace': {
      // The library ignores `prepend_scheme` unless the legacy `add_prefix_space` is set, and
      // never splits on the replacement character (`split`).
      const cfg = p.config as { replacement?: string; prepend_scheme?: string; add_prefix_space?: boolean; split?: boolean };
      const repl = cfg.replacement ?? '\u2581';
      const scheme = cfg.prepend_scheme ?? (cfg.add_prefix_space === false ? 'never' : 'always');
      const split = cfg.split ?? true;
      const re = new RegExp(escapeRegExp(repl), 'gu');
      p.pre_tokenize_text = (text: string, options?: unknown) => {
        let s = text.replaceAll(' ', repl);
        const first = (options as { section_index?: number } | undefined)?.section_index === 0;
        if (!s.startsWith(repl) && (scheme === 'always' || (scheme === 'first' && first))) s = repl + s;
        return split ? splitLikeRust(s, re, 'mergedwithnext', false) : [s];
      };
      break;
    }
    case 'WhitespaceSplit':
      p.pre_tokenize_text = (text: string) => text.match(/\P{White_Space}+/gu) ?? [];
      break;
    case 'Digits': {
      const individual = p.config?.['individual_digits'] === true;
      const re = individual ? /\P{N}+|\p{N}/gu : /\P{N}+|\p{N}+/gu;
      p.pre_tokenize_text = (text: string) => text.match(re) ?? [];
      break;
    }
    case 'BertPreTokenizer': {
      const punct = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
      const re = new RegExp(`[^\\p{White_Space}${punct}]+|[${punct}]`, 'gu');
      p.pre_tokenize_text = (text: string) => text.match(re) ?? [];
      break;
    }
    default:
      break;
  }
}

interface Dec {
  decoders?: Dec[];
  decode_chain?: (tokens: string[]) => string[];
}

/** Walks the decoder tree alongside its configuration and replaces what differs from Rust. */
function patchDecoder(d: Dec | null | undefined, config: Record<string, unknown> | null | undefined): void {
  if (!d || !config) return;
  if (config['type'] === 'Sequence') {
    const subs = (config['decoders'] ?? []) as Record<string, unknown>[];
    if (!Array.isArray(d.decoders) || d.decoders.length !== subs.length) return;
    d.decoders.forEach((x, i) => patchDecoder(x, subs[i]));
    return;
  }
  if (config['type'] === 'Metaspace') {
    // Rust drops every replacement character of the first token unless prepend_scheme is
    // "never"; the library only looks at the legacy add_prefix_space.
    const repl = (config['replacement'] as string | undefined) ?? '\u2581';
    const scheme = (config['prepend_scheme'] as string | undefined) ?? (config['add_prefix_space'] === false ? 'never' : 'always');
    d.decode_chain = (tokens: string[]) =>
      tokens.map((tok, i) => tok.split(repl).join(i === 0 && scheme !== 'never' ? '' : ' '));
  }
}

interface AddedTokenConfig {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

interface TrieNode {
  next: Map<string, TrieNode>;
  token?: AddedTokenConfig;
}

function buildTrie(entries: [string, AddedTokenConfig][]): TrieNode {
  const root: TrieNode = { next: new Map() };
  for (const [key, token] of entries) {
    if (key.length === 0) continue;
    let node = root;
    for (let k = 0; k < key.length; k++) {
      // UTF-16 units, as the search walks the text
      let n = node.next.get(key[k]!);
      if (!n) node.next.set(key[k]!, (n = { next: new Map() }));
      node = n;
    }
    node.token ??= token;
  }
  return root;
}

const WS = /^\p{White_Space}$/u;
const WORD = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const lastChar = (s: string): string | undefined => [...s.slice(-2)].pop();
const firstChar = (s: string): string | undefined => [...s.slice(0, 2)][0];

/**
 * Splits `text` on the added tokens of `trie` the way the Rust AddedVocabulary does: leftmost-
 * longest non-overlapping matches, `single_word` matches only between non-word characters,
 * `lstrip`/`rstrip` absorb the whitespace beside the token.
 */
function splitOnAddedTokens(text: string, trie: TrieNode): { text: string; token?: AddedTokenConfig }[] {
  const out: { text: string; token?: AddedTokenConfig }[] = [];
  let startOffset = 0;
  let i = 0;
  while (i < text.length) {
    let node: TrieNode | undefined = trie;
    let match: { end: number; token: AddedTokenConfig } | undefined;
    let j = i;
    while (j < text.length) {
      node = node.next.get(text[j]!);
      if (!node) break;
      j++;
      if (node.token) match = { end: j, token: node.token };
    }
    if (!match) {
      i++;
      continue;
    }
    let start = i;
    let stop = match.end;
    i = match.end;
    const tok = match.token;
    if (tok.single_word) {
      const before = lastChar(text.slice(0, start));
      const after = firstChar(text.slice(stop));
      if ((before !== undefined && WORD.test(before)) || (after !== undefined && WORD.test(after))) continue;
    }
    if (tok.lstrip) {
      let k = start;
      while (k > startOffset && WS.test(text[k - 1]!)) k--;
      start = k;
    }
    if (tok.rstrip) {
      while (stop < text.length && WS.test(text[stop]!)) stop++;
      i = Math.max(i, stop);
    }
    if (start > startOffset) out.push({ text: text.slice(startOffset, start) });
    out.push({ text: text.slice(start, stop), token: tok });
    startOffset = stop;
  }
  if (startOffset < text.length) out.push({ text: text.slice(startOffset) });
  return out;
}

interface LibInternals {
  normalizer: ((s: string) => string) | null;
  pre_tokenizer: ((s: string, o?: unknown) => string[]) | null;
  model: ((words: string[]) => string[]) & { unk_token?: string; unk_token_id?: number; tokens_to_ids: Map<string, number> };
  _encode_text: (text: string | null) => string[] | null;
}

/**
 * Replaces the library's text → tokens step: added tokens are found first on the raw text
 * (normalized=false) and then on each normalized remaining piece (normalized=true, matched by
 * their normalized content), with single_word/lstrip/rstrip honoured; the rest goes through the
 * pre-tokenizer and the model, as in Rust. The library's slow-tokenizer emulations driven by
 * tokenizer_config (remove_space, lowercase) are not applied: fast tokenizers do not apply them.
 */
function patchAddedTokens(lib: LibInternals, added: AddedTokenConfig[]): void {
  const raw = buildTrie(added.filter((t) => !t.normalized).map((t) => [t.content, t]));
  const norm = lib.normalizer;
  const normalizedTrie = buildTrie(
    added.filter((t) => t.normalized).map((t) => [norm ? norm(t.content) : t.content, t]),
  );
  lib._encode_text = (text: string | null): string[] | null => {
    if (text === null) return null;
    const tokens: string[] = [];
    let sectionIndex = 0;
    for (const piece of splitOnAddedTokens(text, raw)) {
      if (piece.token) {
        tokens.push(piece.token.content);
        sectionIndex++;
        continue;
      }
      const normalized = norm ? norm(piece.text) : piece.text;
      for (const sub of splitOnAddedTokens(normalized, normalizedTrie)) {
        if (sub.token) tokens.push(sub.token.content);
        else if (sub.text.length > 0) {
          const words = lib.pre_tokenizer ? lib.pre_tokenizer(sub.text, { section_index: sectionIndex }) : [sub.text];
          tokens.push(...lib.model(words));
        }
        sectionIndex++;
      }
    }
    return tokens;
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Creates the library tokenizer. Uses the base PreTrainedTokenizer class whatever
 * `tokenizer_class` says: its behaviour is then exactly what tokenizer.json describes, as with
 * Python's fast tokenizers (the library's per-model subclasses emulate slow tokenizers).
 * `tokenizerJson` is modified in place.
 */
export function buildLibTokenizer(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): LibTokenizer {
  const modelCfg = tokenizerJson['model'] as Record<string, unknown>;
  if (modelCfg['type'] === 'BPE' && typeof modelCfg['continuing_subword_prefix'] === 'string' && modelCfg['continuing_subword_prefix'] !== '') {
    throw new Error('BPE models with a continuing_subword_prefix are not supported');
  }
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    translatePatterns(tokenizerJson[key]);
  }
  if (!Array.isArray(tokenizerJson['added_tokens'])) tokenizerJson['added_tokens'] = [];
  // The library reads chat_template itself; we render templates ourselves.
  const config = { ...tokenizerConfig, chat_template: null };
  const Ctor = tokenizers.PreTrainedTokenizer as unknown as new (j: unknown, c: unknown) => LibTokenizer;
  const tok = new Ctor(tokenizerJson, config);
  const model = modelCfg;
  const internals = tok as unknown as LibInternals;
  if (model['type'] === 'WordLevel') {
    // The library has no WordLevel model; its fallback takes the unknown token from
    // tokenizer_config.json instead of the model section.
    internals.model.unk_token = model['unk_token'] as string;
    internals.model.unk_token_id = internals.model.tokens_to_ids.get(model['unk_token'] as string);
  }
  patchAddedTokens(internals, tokenizerJson['added_tokens'] as AddedTokenConfig[]);
  patchPreTokenizer(tok.pre_tokenizer as PreTok, tokenizerJson['pre_tokenizer'] as Record<string, unknown> | null);
  patchDecoder((tok as unknown as { decoder: Dec }).decoder, tokenizerJson['decoder'] as Record<string, unknown> | null);
  return tok;
}
