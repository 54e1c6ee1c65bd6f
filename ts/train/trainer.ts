/**
 * Trainer: fine-tunes a Model's adapter (or all its weights) on conversations or tokenised
 * examples. Tokenisation happens here in TS; the whole loop (batching, forward, backward,
 * AdamW, schedule) runs natively on a worker thread, reporting progress per optimizer step.
 *
 *   const summary = await new Trainer(model, { epochs: 3, learningRate: 2e-4 })
 *     .fit(conversations, { tokenizer, onProgress: (p) => console.log(p.loss), signal });
 */
import { AbortError, InvalidArgumentError } from '../errors';
import type { Conversation } from '../data/conversation';
import type { NativeExample, TrainProgress, TrainSummary } from '../native/bindings';
import type { Model } from '../model/model';
import type { ProcessGroup } from '../distributed/process-group';
import { resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions } from './options';

/** What the trainer needs from a tokenizer (ts/tokenizer/tokenizer.ts provides it). */
export interface TrainingEncoder {
  encodeForTraining(conversation: Conversation, options: { maxLength?: number }): { inputIds: number[]; labels: number[] };
  readonly padTokenId?: number | null;
}

export interface FitOptions {
  /** Needed when the data are conversations. */
  tokenizer?: TrainingEncoder;
  onProgress?: (progress: TrainProgress) => void;
  /** Aborting stops training after the current optimizer step with an AbortError. */
  signal?: AbortSignal;
  /**
   * Data-parallel training over this group (docs/distributed.md): every rank calls fit() with the
   * same data and options; `batchSize` is per rank (global batch = batchSize × worldSize); rank 0
   * alone writes checkpoints. Do not use the group for other collectives while fit() runs.
   */
  processGroup?: ProcessGroup;
}

export type TrainingData = Conversation[] | NativeExample[];

function isConversation(x: unknown): x is Conversation {
  return typeof x === 'object' && x !== null && Array.isArray((x as Conversation).messages);
}

/** Tokenises conversations (labels only on assistant tokens), or checks and truncates given examples. */
export function encodeExamples(data: TrainingData, maxLength: number, tokenizer?: TrainingEncoder): NativeExample[] {
  return data.map((item, i) => {
    if (isConversation(item)) {
      if (!tokenizer) throw new InvalidArgumentError('training on conversations needs a tokenizer (fit(data, { tokenizer }))', { field: 'tokenizer' });
      return tokenizer.encodeForTraining(item, { maxLength });
    }
    const e = item as NativeExample;
    if (!e || e.inputIds === undefined || e.labels === undefined || e.inputIds.length !== e.labels.length) {
      throw new InvalidArgumentError(`training example ${i} needs inputIds and labels of equal length`, { field: `data[${i}]` });
    }
    if (e.inputIds.length > maxLength) {
      return { inputIds: Array.from(e.inputIds).slice(0, maxLength), labels: Array.from(e.labels).slice(0, maxLength) };
    }
    return e;
  });
}

export class Trainer {
  readonly options: ResolvedTrainOptions;

  constructor(
    readonly model: Model,
    options: TrainOptions = {},
  ) {
    this.options = resolveTrainOptions(options);
  }

  /** Tokenises conversations (labels only on assistant tokens), or checks given examples. */
  encode(data: TrainingData, tokenizer?: TrainingEncoder): NativeExample[] {
    return encodeExamples(data, this.options.maxLength, tokenizer);
  }

  async fit(data: TrainingData, fit: FitOptions = {}): Promise<TrainSummary> {
    if (data.length === 0) throw new InvalidArgumentError('no training data', { field: 'data' });
    const examples = this.encode(data, fit.tokenizer);
    const { maxLength: _maxLength, maxSteps, ...rest } = this.options;
    const native = this.model.native;
    if (fit.signal?.aborted) throw new AbortError('training was aborted before it started');
    const onAbort = () => native.cancel();
    fit.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await native.train(
        examples,
        { ...rest, ...(maxSteps !== undefined ? { maxSteps } : {}), padTokenId: fit.tokenizer?.padTokenId ?? 0 },
        fit.onProgress,
        fit.processGroup?.native,
      );
    } finally {
      fit.signal?.removeEventListener('abort', onAbort);
    }
  }
}
