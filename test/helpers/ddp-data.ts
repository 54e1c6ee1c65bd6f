/** The tiny model and data of the data-parallel parity test (shared by the test and its workers). */
import type { DecoderSpec } from '../../ts/index';

export const DDP_SPEC: DecoderSpec = {
  family: 'qwen2',
  vocabSize: 64,
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  intermediateSize: 64,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: 'none',
  useAlibi: false,
  normHead: false,
  qkvBias: true,
  oBias: false,
  mlpBias: false,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 64,
};

/** 9 examples of different lengths and answer sizes: with a global batch of 4 the last micro-batch has one example, so rank 1 has none there. */
export const DDP_EXAMPLES = Array.from({ length: 9 }, (_, i) => {
  const q = Array.from({ length: 3 + (i % 4) }, (_, j) => 2 + ((i * 7 + j * 3) % 40));
  const a = Array.from({ length: 2 + (i % 3) }, (_, j) => 20 + ((i * 5 + j) % 40));
  return { inputIds: [...q, ...a], labels: [...q.map(() => -100), ...a] };
});
