/** exact-match: 1 when the normalised answer equals the normalised reference, else 0. */
import { normalizeAnswer } from './normalize';
import type { TextScorer } from './scorer';

export const exactMatchScorer: TextScorer = {
  name: 'exact-match',
  score: (prediction, reference) => (normalizeAnswer(prediction) === normalizeAnswer(reference) ? 1 : 0),
};
