/**
 * Text generation over Model: prompts (chat messages, raw text or token ids) → tokenised with
 * the model's tokenizer → batched native generation (KV cache, greedy or sampling) → decoded,
 * cut at stop strings. `streamGenerate` yields text pieces as tokens arrive.
 */
import { AbortError, InvalidArgumentError } from '../errors';
import type { Message } from '../data/conversation';
import type { NativeGenerateOptions } from '../native/bindings';
import type { Model } from './model';

/** What generation needs from a tokenizer (ts/tokenizer/tokenizer.ts provides it). */
export interface GenerationCodec {
  encodeForGeneration(messages: Message[]): number[];
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
  readonly eosTokenIds: number[];
  readonly padTokenId?: number | null;
}

export interface GenerateOptions {
  /** New tokens per prompt at most (default 64). */
  maxNewTokens?: number;
  /** Sample instead of greedy decoding (default false). */
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Stop when any of these strings appears (it is not included in the text). */
  stop?: string[];
  /** Extra end-of-sequence ids (the tokenizer's are always used). */
  eosTokenIds?: number[];
  signal?: AbortSignal;
}

export type Prompt = Message[] | string | number[];

export interface Generation {
  text: string;
  tokenIds: number[];
  finishReason: 'eos' | 'stop' | 'length';
}

function promptIds(codec: GenerationCodec, p: Prompt, i: number): number[] {
  if (typeof p === 'string') return codec.encode(p, { addSpecialTokens: true });
  if (Array.isArray(p) && p.every((x) => typeof x === 'number')) return p as number[];
  if (Array.isArray(p)) return codec.encodeForGeneration(p as Message[]);
  throw new InvalidArgumentError(`prompt ${i} must be messages, a string or token ids`, { field: `prompts[${i}]` });
}

function nativeOptions(codec: GenerationCodec, o: GenerateOptions): NativeGenerateOptions {
  const eos = [...new Set([...codec.eosTokenIds, ...(o.eosTokenIds ?? [])])];
  return {
    maxNewTokens: o.maxNewTokens ?? 64,
    doSample: o.doSample ?? false,
    temperature: o.temperature ?? 1,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    seed: o.seed ?? 0,
    eosTokenIds: eos.map(String),
    padTokenId: codec.padTokenId ?? eos[0] ?? 0,
  };
}

/** Tracks one row's text and cuts it at the first stop string. */
class RowState {
  ids: number[] = [];
  text = '';
  emitted = 0;
  done = false;
  reason: Generation['finishReason'] = 'length';
  constructor(
    private readonly codec: GenerationCodec,
    private readonly stop: string[],
    private readonly eos: Set<number>,
  ) {}
  push(token: number): void {
    if (this.done || token < 0) return;
    if (this.eos.has(token)) {
      this.done = true;
      this.reason = 'eos';
      return;
    }
    this.ids.push(token);
    this.text = this.codec.decode(this.ids, { skipSpecialTokens: true });
    for (const s of this.stop) {
      const at = s ? this.text.indexOf(s) : -1;
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        this.done = true;
        this.reason = 'stop';
      }
    }
  }
  /** New text that can be shown: held back while it could be the start of a stop string. */
  takeDelta(final: boolean): string {
    let safe = this.text.length;
    if (!final && !this.done) {
      // keep back an incomplete UTF-8 sequence and any suffix that is a prefix of a stop string
      if (this.text.endsWith('\uFFFD')) safe -= 1;
      for (const s of this.stop) {
        for (let k = Math.min(s.length - 1, safe); k > 0; k--) {
          if (this.text.slice(safe - k, safe) === s.slice(0, k)) {
            safe = Math.min(safe, this.text.length - k);
            break;
          }
        }
      }
    }
    const delta = this.text.slice(this.emitted, Math.max(this.emitted, safe));
    this.emitted += delta.length;
    return delta;
  }
}

/** Generates for a batch of prompts; resolves when every row is finished. */
export async function generate(model: Model, codec: GenerationCodec, prompts: Prompt[], options: GenerateOptions = {}): Promise<Generation[]> {
  const results: Generation[] = [];
  for await (const _ of streamGenerate(model, codec, prompts, options, results)) {
    /* drain */
  }
  return results;
}

export interface GenerationChunk {
  /** Which prompt this text belongs to. */
  index: number;
  text: string;
}

/**
 * Streams generated text as an async iterator of {index, text} pieces. When `collect` is given,
 * the final Generation of each prompt is written into it.
 */
export async function* streamGenerate(
  model: Model,
  codec: GenerationCodec,
  prompts: Prompt[],
  options: GenerateOptions = {},
  collect?: Generation[],
): AsyncGenerator<GenerationChunk> {
  if (!Array.isArray(prompts) || prompts.length === 0) throw new InvalidArgumentError('prompts must be a non-empty array', { field: 'prompts' });
  const ids = prompts.map((p, i) => promptIds(codec, p, i));
  const native = nativeOptions(codec, options);
  const eos = new Set(native.eosTokenIds!.map(Number));
  const rows = ids.map(() => new RowState(codec, options.stop ?? [], eos));
  const queue: GenerationChunk[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  if (options.signal?.aborted) throw new AbortError('generation was aborted before it started');
  const onAbort = () => model.native.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const run = model.native
    .generate(ids, native, (event) => {
      const tokens = event.tokens.split(',').map(Number);
      tokens.forEach((t, r) => {
        rows[r].push(t);
        const delta = rows[r].takeDelta(false);
        if (delta) queue.push({ index: r, text: delta });
      });
      if (rows.every((r) => r.done)) model.native.cancel(); // every row hit EOS or a stop string
      wake?.();
    })
    .then(
      () => undefined,
      (e: unknown) => {
        failure = e;
      },
    )
    .finally(() => {
      finished = true;
      wake?.();
    });

  try {
    while (true) {
      while (queue.length > 0) yield queue.shift()!;
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    await run;
    if (options.signal?.aborted) throw new AbortError('generation was aborted');
    if (failure) throw failure;
    for (let r = 0; r < rows.length; r++) {
      const delta = rows[r].takeDelta(true);
      if (delta) yield { index: r, text: delta };
    }
    if (collect) {
      collect.length = 0;
      for (const row of rows) collect.push({ text: row.text, tokenIds: row.ids, finishReason: row.reason });
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
