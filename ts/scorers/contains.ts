/**
 * contains: 1 when the normalised reference's tokens appear, contiguous and in order, among the
 * normalised answer's tokens (so "cat" is not found in "concatenate", but 北京 is found in
 * 答案是北京); else 0. An empty reference (after normalisation) matches only an empty answer.
 */
import { normalizeAnswer } from './normalize';
import type { TextScorer } from './scorer';
import { tokenizeForScoring } from './tokenize';

function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  outer: for (let start = 0; start + needle.length <= haystack.length; start++) {
    for (let k = 0; k < needle.length; k++) if (haystack[start + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

export const containsScorer: TextScorer = {
  name: 'contains',
  score(prediction, reference) {
    const pred = tokenizeForScoring(normalizeAnswer(prediction));
    const ref = tokenizeForScoring(normalizeAnswer(reference));
    if (ref.length === 0) return pred.length === 0 ? 1 : 0;
    return containsRun(pred, ref) ? 1 : 0;
  },
};
