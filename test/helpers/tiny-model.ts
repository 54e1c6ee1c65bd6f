/**
 * The tiny decoder shape and the four question → answer token sequences that the training and
 * tuner tests memorise (the loss is on the answers only; 1 is the end-of-answer token).
 */
import type { DecoderSpec } from '../../ts/index';

export const TINY_SPEC: DecoderSpec = {
  family: 'qwen2',
  vocabSize: 64,
  hiddenSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 12,
  intermediateSize: 96,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: 'none',
  useAlibi: false,
  normHead: false,
  qkvBias: true,
  oBias: false,
  mlpBias: false,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 128,
};

export const QA_PAIRS = [
  { q: [2, 10, 11, 12, 3], a: [20, 21, 22, 1] },
  { q: [2, 13, 14, 15, 3], a: [23, 24, 1] },
  { q: [2, 16, 17, 18, 3], a: [25, 26, 27, 28, 1] },
  { q: [2, 10, 14, 18, 3], a: [29, 30, 1] },
];

export const QA_EXAMPLES = QA_PAIRS.map(({ q, a }) => ({ inputIds: [...q, ...a], labels: [...q.map(() => -100), ...a] }));
