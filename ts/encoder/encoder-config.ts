/**
 * The encoder architecture from a HF config.json: BERT (`model_type` bert) and the RoBERTa
 * family (roberta, xlm-roberta, camembert), which number positions from padding_idx + 1.
 */
import { ConfigError } from '../errors';
import type { NativeEncoderSpec } from '../native/bindings';
import type { JsonObject } from './json-file';

const ROBERTA_LIKE = new Set(['roberta', 'xlm-roberta', 'camembert']);
const SUPPORTED = ['bert', ...ROBERTA_LIKE];

export function encoderSpecFromConfig(config: JsonObject, file: string): NativeEncoderSpec {
  const modelType = config['model_type'];
  if (typeof modelType !== 'string' || !SUPPORTED.includes(modelType)) {
    throw new ConfigError(`${file}: model_type ${JSON.stringify(modelType)} is not a supported encoder (supported: ${SUPPORTED.join(', ')})`, {
      file,
      field: 'model_type',
    });
  }
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(`${file}: ${key} must be an integer`, { file, field: key });
    return v;
  };
  const positionType = config['position_embedding_type'] ?? 'absolute';
  if (positionType !== 'absolute') {
    throw new ConfigError(`${file}: position_embedding_type ${JSON.stringify(positionType)} is not supported (only "absolute")`, {
      file,
      field: 'position_embedding_type',
    });
  }
  const eps = config['layer_norm_eps'] ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ConfigError(`${file}: layer_norm_eps must be a positive number`, { file, field: 'layer_norm_eps' });
  const act = config['hidden_act'] ?? 'gelu';
  if (typeof act !== 'string') throw new ConfigError(`${file}: hidden_act must be a string`, { file, field: 'hidden_act' });
  const padTokenId = int('pad_token_id', ROBERTA_LIKE.has(modelType) ? 1 : 0);
  return {
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    numLayers: int('num_hidden_layers'),
    numHeads: int('num_attention_heads'),
    intermediateSize: int('intermediate_size'),
    maxPositionEmbeddings: int('max_position_embeddings', 512),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: eps,
    hiddenAct: act,
    padTokenId,
    positionPaddingIdx: ROBERTA_LIKE.has(modelType) ? padTokenId : -1,
  };
}

/** How many tokens the position table can number. */
export function maxSequenceOf(spec: NativeEncoderSpec): number {
  return spec.maxPositionEmbeddings - (spec.positionPaddingIdx < 0 ? 0 : spec.positionPaddingIdx + 1);
}
