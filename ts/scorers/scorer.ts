/**
 * A scorer compares a model's answer with the reference answer and gives a score in [0, 1]; a
 * cell of the accuracy matrix is the mean score over a task's test set. Text scorers implement
 * `score` (synchronous, per pair); scorers that run a model (embeddings) implement `scoreBatch`
 * instead, or as well. Adding a scorer is one file plus one registerScorer call.
 */
import { InvalidArgumentError } from '../errors';

export interface TextScorer {
  readonly name: string;
  /** Score of one answer against its reference, in [0, 1]. */
  score(prediction: string, reference: string): number;
  /** Optional faster path for many pairs at once. */
  scoreBatch?(predictions: readonly string[], references: readonly string[]): Promise<number[]>;
}

export interface BatchScorer {
  readonly name: string;
  score?: undefined;
  /** Scores of many answers against their references (same length), each in [0, 1]. */
  scoreBatch(predictions: readonly string[], references: readonly string[]): Promise<number[]>;
}

export type Scorer = TextScorer | BatchScorer;

/** Scores every pair with `scorer` (its batch form when it has one) and checks the results. */
export async function scoreAll(scorer: Scorer, predictions: readonly string[], references: readonly string[]): Promise<number[]> {
  if (predictions.length !== references.length) {
    throw new InvalidArgumentError(`scorer ${scorer.name}: ${predictions.length} prediction(s) but ${references.length} reference(s)`);
  }
  [...predictions, ...references].forEach((s) => {
    if (typeof s !== 'string') throw new InvalidArgumentError(`scorer ${scorer.name}: predictions and references must be strings; got ${typeof s}`);
  });
  let scores: number[];
  if (scorer.scoreBatch) scores = await scorer.scoreBatch(predictions, references);
  else if (scorer.score) scores = predictions.map((p, i) => scorer.score!(p, references[i]));
  else throw new InvalidArgumentError(`scorer ${String((scorer as { name?: unknown }).name)} has neither score nor scoreBatch`);
  if (scores.length !== predictions.length) {
    throw new InvalidArgumentError(`scorer ${scorer.name} returned ${scores.length} score(s) for ${predictions.length} pair(s)`);
  }
  scores.forEach((s, i) => {
    if (typeof s !== 'number' || !(s >= 0 && s <= 1)) throw new InvalidArgumentError(`scorer ${scorer.name} gave pair ${i} the score ${String(s)}, outside [0, 1]`);
  });
  return scores;
}
