/**
 * token-f1 (SQuAD): with tokens of the normalised texts, overlap = size of the multiset
 * intersection, precision = overlap / |answer|, recall = overlap / |reference|,
 * F1 = 2·P·R / (P + R). If either side has no tokens, 1 when both are empty, else 0.
 */
import { normalizeAnswer } from './normalize';
import type { TextScorer } from './scorer';
import { tokenizeForScoring } from './tokenize';

export function tokenF1(predTokens: readonly string[], refTokens: readonly string[]): number {
  if (predTokens.length === 0 || refTokens.length === 0) return predTokens.length === refTokens.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of refTokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  let overlap = 0;
  for (const t of predTokens) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      overlap++;
      counts.set(t, c - 1);
    }
  }
  if (overlap === 0) return 0;
  const precision = overlap / predTokens.length;
  const recall = overlap / refTokens.length;
  return (2 * precision * recall) / (precision + recall);
}

export const tokenF1Scorer: TextScorer = {
  name: 'token-f1',
  score: (prediction, reference) => tokenF1(tokenizeForScoring(normalizeAnswer(prediction)), tokenizeForScoring(normalizeAnswer(reference))),
};
