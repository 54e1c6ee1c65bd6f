/**
 * config.json → DecoderSpec: the one place that knows how each family spells its architecture
 * (transformers 4.x `rope_theta`/`rope_scaling` and 5.x `rope_parameters` alike).
 */
import fs from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { ConfigError, ModelLoadError } from '../errors';

export type Family = 'qwen2' | 'llama' | 'internlm2' | 'baichuan';

/** What the native decoder needs; mirrors native/models/spec.h. */
export interface DecoderSpec {
  family: Family;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: 'none' | 'linear' | 'llama3';
  ropeFactor?: number;
  ropeLowFreqFactor?: number;
  ropeHighFreqFactor?: number;
  ropeOriginalMaxPositions?: number;
  useAlibi: boolean;
  normHead: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
}

const positiveInt = z.number().int().positive();
const base = z.object({
  model_type: z.string().optional(),
  architectures: z.array(z.string()).optional(),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.optional().nullable(),
  head_dim: positiveInt.optional().nullable(),
  intermediate_size: positiveInt,
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.record(z.string(), z.unknown()).optional().nullable(),
  rope_parameters: z.record(z.string(), z.unknown()).optional().nullable(),
  tie_word_embeddings: z.boolean().optional(),
  max_position_embeddings: positiveInt.optional(),
  model_max_length: positiveInt.optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  bias: z.boolean().optional(),
});
type RawConfig = z.infer<typeof base>;

/** The family of a config, from model_type or architectures. */
export function familyOf(raw: { model_type?: string; architectures?: string[] }, file: string): Family {
  const t = (raw.model_type ?? '').toLowerCase();
  const arch = (raw.architectures ?? []).join(' ').toLowerCase();
  if (t === 'qwen2' || arch.includes('qwen2')) return 'qwen2';
  if (t === 'llama' || arch.includes('llamaforcausallm')) return 'llama';
  if (t === 'internlm2' || arch.includes('internlm2')) return 'internlm2';
  if (t === 'baichuan' || arch.includes('baichuan')) return 'baichuan';
  throw new ConfigError(
    `${file}: unsupported model_type '${raw.model_type ?? '(none)'}' (supported: qwen2, llama, internlm2, baichuan)`,
    { file, field: 'model_type' },
  );
}

function rope(raw: RawConfig, file: string): Pick<DecoderSpec, 'ropeTheta' | 'ropeScaling' | 'ropeFactor' | 'ropeLowFreqFactor' | 'ropeHighFreqFactor' | 'ropeOriginalMaxPositions'> {
  // transformers 5 folds rope_theta and rope_scaling into rope_parameters.
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? {}) as Record<string, unknown>;
  const theta = Number(params.rope_theta ?? raw.rope_theta ?? 10000);
  const type = String(params.rope_type ?? params.type ?? 'default');
  const num = (k: string, d: number) => (typeof params[k] === 'number' ? (params[k] as number) : d);
  switch (type) {
    case 'default':
    case 'dynamic': // dynamic NTK only changes positions beyond max_position_embeddings
      return { ropeTheta: theta, ropeScaling: 'none' };
    case 'linear':
      return { ropeTheta: theta, ropeScaling: 'linear', ropeFactor: num('factor', 1) };
    case 'llama3':
      return {
        ropeTheta: theta,
        ropeScaling: 'llama3',
        ropeFactor: num('factor', 8),
        ropeLowFreqFactor: num('low_freq_factor', 1),
        ropeHighFreqFactor: num('high_freq_factor', 4),
        ropeOriginalMaxPositions: num('original_max_position_embeddings', 8192),
      };
    default:
      throw new ConfigError(`${file}: rope type '${type}' is not supported (supported: default, linear, llama3, dynamic)`, {
        file,
        field: raw.rope_parameters ? 'rope_parameters.rope_type' : 'rope_scaling.type',
      });
  }
}

/** Normalises a parsed config.json into a DecoderSpec; `file` names it in errors. */
export function specFromConfig(json: unknown, file: string): DecoderSpec {
  const parsed = base.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.');
    throw new ConfigError(`${file}: field "${field}": ${issue.message}`, { file, field });
  }
  const raw = parsed.data;
  const family = familyOf(raw, file);
  const numKvHeads = raw.num_key_value_heads ?? raw.num_attention_heads;
  const headDim = raw.head_dim ?? raw.hidden_size / raw.num_attention_heads;
  if (!Number.isInteger(headDim)) {
    throw new ConfigError(`${file}: hidden_size ${raw.hidden_size} is not divisible by num_attention_heads ${raw.num_attention_heads}`, { file, field: 'num_attention_heads' });
  }
  if (raw.num_attention_heads % numKvHeads !== 0) {
    throw new ConfigError(`${file}: num_attention_heads must be a multiple of num_key_value_heads`, { file, field: 'num_key_value_heads' });
  }
  const spec: DecoderSpec = {
    family,
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    numLayers: raw.num_hidden_layers,
    numHeads: raw.num_attention_heads,
    numKvHeads,
    headDim,
    intermediateSize: raw.intermediate_size,
    rmsNormEps: raw.rms_norm_eps ?? 1e-6,
    ...rope(raw, file),
    useAlibi: false,
    normHead: false,
    qkvBias: false,
    oBias: false,
    mlpBias: raw.mlp_bias ?? false,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    maxPositionEmbeddings: raw.max_position_embeddings ?? raw.model_max_length ?? 4096,
  };
  switch (family) {
    case 'qwen2':
      spec.qkvBias = true;
      break;
    case 'llama':
      spec.qkvBias = spec.oBias = raw.attention_bias ?? false;
      break;
    case 'internlm2':
      spec.qkvBias = spec.oBias = raw.bias ?? false;
      break;
    case 'baichuan':
      // Baichuan2-13B replaces RoPE by ALiBi; Baichuan2 (vocab 125696) L2-normalises its head.
      spec.useAlibi = (json as { use_alibi?: boolean }).use_alibi ?? raw.hidden_size === 5120;
      spec.normHead = (json as { norm_head?: boolean }).norm_head ?? raw.vocab_size === 125696;
      break;
  }
  return spec;
}

/** Reads and normalises `<dir>/config.json`. */
export function readModelConfig(dir: string): { spec: DecoderSpec; raw: Record<string, unknown> } {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ModelLoadError(`${dir} is not a model directory: ${file} is missing`, { file });
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`, { file });
  }
  return { spec: specFromConfig(json, file), raw: json };
}
