/**
 * embedding-cosine (the seed's metric): the cosine between the sentence embeddings of the answer
 * and of the reference, from a sentence-transformers model run natively (SentenceEncoder).
 * Negative cosines are clamped to 0, so a score stays in [0, 1] like every other scorer's:
 * "unrelated" and "opposite" both count as no credit. Option: `{ model: <directory> }`.
 */
import { SentenceEncoder } from '../encoder/sentence-encoder';
import { ConfigError, InvalidArgumentError } from '../errors';
import { registerScorer } from './registry';
import type { BatchScorer } from './scorer';

/** cos(a, b) clamped to [0, 1]; 0 when either vector is all zeros. */
export function clampedCosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new InvalidArgumentError(`clampedCosine: vectors of length ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) return 0;
  return Math.min(1, Math.max(0, dot / Math.sqrt(na * nb)));
}

export interface EmbeddingCosineOptions {
  /** The sentence-transformers model directory. */
  model: string;
  /** Sentences per forward pass (default 32). */
  batchSize?: number;
}

export class EmbeddingCosineScorer implements BatchScorer {
  readonly name = 'embedding-cosine';
  readonly model: string;
  readonly #batchSize: number | undefined;
  #encoder: Promise<SentenceEncoder> | undefined;

  constructor(options: EmbeddingCosineOptions) {
    this.model = options.model;
    this.#batchSize = options.batchSize;
  }

  /** The encoder, loaded on first use. */
  encoder(): Promise<SentenceEncoder> {
    this.#encoder ??= SentenceEncoder.load(this.model);
    return this.#encoder;
  }

  async scoreBatch(predictions: readonly string[], references: readonly string[]): Promise<number[]> {
    const encoder = await this.encoder();
    // Each distinct text once: references repeat across the stages of a stream.
    const texts = [...new Set([...predictions, ...references])];
    const row = new Map(texts.map((t, i) => [t, i]));
    const emb = await encoder.encode(texts, { batchSize: this.#batchSize });
    const d = encoder.dimension;
    const vec = (t: string) => emb.subarray(row.get(t)! * d, (row.get(t)! + 1) * d);
    return predictions.map((p, i) => clampedCosine(vec(p), vec(references[i])));
  }

  /** Frees the encoder's native memory (it is loaded again if the scorer is used after). */
  async dispose(): Promise<void> {
    const pending = this.#encoder;
    this.#encoder = undefined;
    if (pending) await (await pending).dispose();
  }
}

registerScorer('embedding-cosine', (options) => {
  const model = options?.['model'];
  if (typeof model !== 'string' || model.length === 0) {
    throw new ConfigError('the embedding-cosine scorer needs { "name": "embedding-cosine", "model": "<sentence-transformers directory>" }', {
      field: 'scorers.model',
    });
  }
  const batchSize = options?.['batchSize'];
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && (batchSize as number) > 0)) {
    throw new ConfigError('embedding-cosine: batchSize must be a positive integer', { field: 'scorers.batchSize' });
  }
  return new EmbeddingCosineScorer({ model, batchSize: batchSize as number | undefined });
});
