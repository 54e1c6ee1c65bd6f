/**
 * Training encoding: token ids of a rendered conversation and labels that are -100 except on the
 * tokens of assistant turns. Exact for any chat template:
 *
 * 1. Render the whole conversation once (`text`); the ids are always the tokenization of `text`,
 *    so training sees exactly what transformers' `apply_chat_template(tokenize=True)` gives.
 * 2. Find each assistant turn as a character span of `text`:
 *    - start: the rendering of the messages before it with the generation prompt, when that is a
 *      prefix of `text` (so the span holds everything the model generates after the prompt, e.g.
 *      Qwen3's `<think>\n\n</think>\n\n` block on the final turn);
 *    - end: the rendering of the messages up to and including it, when that is a prefix of `text`;
 *    - templates that render an earlier turn differently once later messages follow (Qwen3 drops
 *      thinking blocks from turns before the last user message, and adds an empty one to the final
 *      turn) break that prefix property. Then a marker string is appended (or prepended) to that
 *      message's content, the conversation is re-rendered, and the marker's position (checked to be
 *      the only change) gives where the content ends (starts) in `text`; the end-of-turn text the
 *      template writes after the content (e.g. `<|im_end|>`) is added to the span.
 *    - trailing whitespace is dropped from the span: ChatML's `\n` after `<|im_end|>` belongs to the
 *      prompt of the next turn, as in ms-swift and transformers' `{% generation %}` masks.
 * 3. Tokenize the pieces of `text` between span boundaries separately. If the concatenated piece
 *    ids equal the ids of `text` (the usual case), each token's label follows its piece.
 *    Otherwise a token straddles a boundary (e.g. an answer starting with "\n\n" after ChatML's
 *    "assistant\n" merges into one "\n\n\n" token); then token offsets are recovered from the
 *    decoder (binary search on the decoded length of id prefixes, checked to reproduce `text`) and
 *    every token that overlaps a span is labelled, the rule transformers' assistant masks use.
 *    If the decoder does not reproduce `text` either, the concatenated piece ids are used as the
 *    input ids (ms-swift's way: each piece tokenized on its own).
 *
 * Truncation: when `maxLength` is given and the sequence is longer, the first `maxLength` tokens
 * are kept (the system prompt and first turns survive; later turns are cut) and `truncated` is set,
 * so a caller that prefers to drop such samples (ms-swift's truncation_strategy=delete) can.
 * Labels are aligned with inputIds (not shifted); the model shifts them.
 */
import type { Message } from '../data/conversation';
import { ConfigError, InvalidArgumentError } from '../errors';
import type { ChatTemplate } from './chat-template';

export const IGNORE_INDEX = -100;

export interface TrainingEncodeOptions {
  /** Keep at most this many tokens (the first ones). */
  maxLength?: number;
}

export interface TrainingEncoding {
  inputIds: number[];
  /** Same length as inputIds; -100 where no loss is taken. */
  labels: number[];
  /** The sequence was longer than maxLength and was cut. */
  truncated: boolean;
  /**
   * How labels were placed: 'pieces' (piece ids equal the full ids), 'offsets' (decoder
   * offsets on the full ids), 'piecewise-ids' (input ids are the concatenated piece ids).
   */
  method: 'pieces' | 'offsets' | 'piecewise-ids';
}

/** Half-open character range [start, end) of `text`. */
export interface CharSpan {
  start: number;
  end: number;
}

interface TokenizerLike {
  readonly chatTemplate: ChatTemplate;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean }): string;
}

function pickMarker(messages: readonly Message[]): string {
  for (let n = 0; ; n++) {
    const marker = `\u27EAcn-span-${n}\u27EB`;
    if (!messages.some((m) => m.content.includes(marker))) return marker;
  }
}

function withContent(messages: readonly Message[], i: number, content: string): Message[] {
  return messages.map((m, j) => (j === i ? { role: m.role, content } : { role: m.role, content: m.content }));
}

/**
 * Character spans of the assistant turns in the rendering of `messages`, in message order.
 * Throws ConfigError when the template renders an assistant message in a way that cannot be
 * located (e.g. it rewrites the content beyond recognition).
 */
export function assistantSpans(template: ChatTemplate, messages: readonly Message[]): { text: string; spans: CharSpan[] } {
  const text = template.render(messages);
  const tryRender = (msgs: readonly Message[], gen: boolean): string | undefined => {
    if (msgs.length === 0) return undefined;
    try {
      return template.render(msgs, { addGenerationPrompt: gen });
    } catch {
      return undefined;
    }
  };
  const marker = pickMarker(messages);
  const fail = (i: number, why: string): never => {
    throw new ConfigError(`chat template '${template.name}': cannot locate assistant message ${i} in the rendered conversation (${why})`, {
      field: 'chat_template',
    });
  };
  /** Where message i's content starts ('start') or ends ('end') in `text`, found with the marker. */
  const markerPosition = (i: number, where: 'start' | 'end'): number => {
    const content = messages[i]!.content;
    const marked = tryRender(withContent(messages, i, where === 'start' ? marker + content : content + marker), false);
    const p = marked?.indexOf(marker) ?? -1;
    if (marked === undefined || p < 0 || marked.indexOf(marker, p + 1) >= 0) return fail(i, 'marker not rendered once');
    if (marked.slice(0, p) + marked.slice(p + marker.length) !== text) return fail(i, 'marker changed the rendering');
    return p;
  };

  const spans: CharSpan[] = [];
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.role !== 'assistant') continue;
    const prompt = tryRender(messages.slice(0, i), true);
    const start = prompt !== undefined && text.startsWith(prompt) ? prompt.length : markerPosition(i, 'start');

    const upTo = i === messages.length - 1 ? text : tryRender(messages.slice(0, i + 1), false);
    let end: number;
    if (upTo !== undefined && upTo.length >= start && text.startsWith(upTo)) {
      end = upTo.length;
    } else {
      const p = markerPosition(i, 'end');
      // What the template writes after the content when this message is the last one.
      const last = tryRender(withContent(messages.slice(0, i + 1), i, messages[i]!.content + marker), false);
      const q = last?.indexOf(marker) ?? -1;
      const tail = last !== undefined && q >= 0 ? last.slice(q + marker.length).trimEnd() : '';
      end = tail.length > 0 && text.startsWith(tail, p) ? p + tail.length : p;
    }
    while (end > start && /\s/.test(text[end - 1]!)) end--;
    const prev = spans[spans.length - 1];
    if (end < start || (prev !== undefined && start < prev.end)) fail(i, 'spans out of order');
    spans.push({ start, end });
  }
  return { text, spans };
}

/** Index of the token whose decoded text contains character `c` (binary search on prefix decodes). */
function makeTokenLocator(tok: TokenizerLike, ids: readonly number[]): (c: number) => number {
  const cache = new Map<number, number>();
  const decodedLength = (k: number): number => {
    let v = cache.get(k);
    if (v === undefined) {
      v = tok.decode(ids.slice(0, k), { skipSpecialTokens: false, cleanUpTokenizationSpaces: false }).length;
      cache.set(k, v);
    }
    return v;
  };
  return (c: number): number => {
    let lo = 1;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (decodedLength(mid) > c) hi = mid;
      else lo = mid + 1;
    }
    return lo - 1;
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** See the file comment. */
export function encodeConversation(tok: TokenizerLike, messages: readonly Message[], options: TrainingEncodeOptions = {}): TrainingEncoding {
  const { maxLength } = options;
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength <= 0)) {
    throw new InvalidArgumentError(`maxLength must be a positive integer, got ${maxLength}`, { field: 'maxLength' });
  }
  const { text, spans } = assistantSpans(tok.chatTemplate, messages);
  const full = tok.encode(text, { addSpecialTokens: false });

  const bounds = [...new Set([0, text.length, ...spans.flatMap((s) => [s.start, s.end])])].sort((a, b) => a - b);
  const pieceIds: number[] = [];
  const pieceLabels: number[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k]!;
    const b = bounds[k + 1]!;
    const ids = tok.encode(text.slice(a, b), { addSpecialTokens: false });
    const trained = spans.some((s) => s.start <= a && b <= s.end);
    for (const id of ids) {
      pieceIds.push(id);
      pieceLabels.push(trained ? id : IGNORE_INDEX);
    }
  }

  let inputIds: number[];
  let labels: number[];
  let method: TrainingEncoding['method'];
  if (sameIds(pieceIds, full)) {
    inputIds = full;
    labels = pieceLabels;
    method = 'pieces';
  } else if (full.length > 0 && tok.decode(full, { skipSpecialTokens: false, cleanUpTokenizationSpaces: false }) === text) {
    const tokenAt = makeTokenLocator(tok, full);
    inputIds = full;
    labels = new Array<number>(full.length).fill(IGNORE_INDEX);
    for (const s of spans) {
      if (s.end <= s.start) continue;
      const first = tokenAt(s.start);
      const last = tokenAt(s.end - 1);
      for (let t = first; t <= last; t++) labels[t] = full[t]!;
    }
    method = 'offsets';
  } else {
    inputIds = pieceIds;
    labels = pieceLabels;
    method = 'piecewise-ids';
  }

  let truncated = false;
  if (maxLength !== undefined && inputIds.length > maxLength) {
    inputIds = inputIds.slice(0, maxLength);
    labels = labels.slice(0, maxLength);
    truncated = true;
  }
  return { inputIds, labels, truncated, method };
}
