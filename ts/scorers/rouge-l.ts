/**
 * rouge-l: the F-measure (β = 1) of the longest common subsequence of the normalised texts'
 * tokens: P = LCS / |answer|, R = LCS / |reference|, F = 2·P·R / (P + R). If either side has no
 * tokens, 1 when both are empty, else 0.
 */
import { normalizeAnswer } from './normalize';
import type { TextScorer } from './scorer';
import { tokenizeForScoring } from './tokenize';

/** Length of the longest common subsequence (O(|a|·|b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

export function rougeL(predTokens: readonly string[], refTokens: readonly string[]): number {
  if (predTokens.length === 0 || refTokens.length === 0) return predTokens.length === refTokens.length ? 1 : 0;
  const lcs = lcsLength(predTokens, refTokens);
  if (lcs === 0) return 0;
  const precision = lcs / predTokens.length;
  const recall = lcs / refTokens.length;
  return (2 * precision * recall) / (precision + recall);
}

export const rougeLScorer: TextScorer = {
  name: 'rouge-l',
  score: (prediction, reference) => rougeL(tokenizeForScoring(normalizeAnswer(prediction)), tokenizeForScoring(normalizeAnswer(reference))),
};
