/** Scorers: answer vs reference → [0, 1]. */
export type { Scorer, TextScorer, BatchScorer } from './scorer';
export { scoreAll } from './scorer';
export { getScorer, registerScorer, scorerNames, scorerFromSpec } from './registry';
export type { ScorerFactory, ScorerSpec } from './registry';
export { normalizeAnswer } from './normalize';
export { tokenizeForScoring, isCjkChar } from './tokenize';
export { exactMatchScorer } from './exact-match';
export { containsScorer } from './contains';
export { tokenF1Scorer, tokenF1 } from './token-f1';
export { rougeLScorer, rougeL, lcsLength } from './rouge-l';
export { EmbeddingCosineScorer, clampedCosine } from './embedding-cosine';
export type { EmbeddingCosineOptions } from './embedding-cosine';
