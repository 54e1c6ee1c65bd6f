/**
 * Tuner options (TS side) and their mapping to and from PEFT's adapter_config.json.
 * Defaults follow ms-swift's LoRA defaults (r 8, alpha 32, dropout 0.05, all linear layers).
 */
import { z } from 'zod';

import { ConfigError } from '../errors';
import { firstIssue } from '../util/zod-field';
import type { DecoderSpec } from './config';

export interface LoraOptions {
  type: 'lora';
  /** Rank (default 8). */
  r?: number;
  /** Scaling numerator: scale = alpha / r, or alpha / √r with rslora (default 32). */
  alpha?: number;
  /** Dropout on the LoRA input during training (default 0.05). */
  dropout?: number;
  /** Module names or suffixes (q_proj, ...) or 'all-linear' (default). */
  targetModules?: string[] | 'all-linear';
  /** rsLoRA scaling alpha / √r (default false). */
  rslora?: boolean;
  /** Seed of the A-matrix initialisation and of dropout (default 0). */
  seed?: number;
}

/**
 * MoELoRA: `experts` low-rank experts per target projection sharing the rank `r` (each r/experts),
 * mixed per token by a softmax router. Same option names and defaults as LoRA, plus `experts`.
 */
export interface MoeLoraOptions extends Omit<LoraOptions, 'type'> {
  type: 'moelora';
  /** Number of experts E (default 4); `r` must be divisible by it. */
  experts?: number;
}

export interface FullOptions {
  type: 'full';
  /** Also train the embeddings and the output head (default true). */
  trainEmbeddings?: boolean;
}

/** Prompt-Tuning (PEFT PROMPT_TUNING): N trainable virtual-token embeddings before every input. */
export interface PromptTuningOptions {
  type: 'prompt';
  /** Virtual tokens N (default 20). */
  numVirtualTokens?: number;
  /** 'random' N(0, 1) as PEFT (default), 'text' (embeddings of initText / initTokenIds, repeated or cut to N), 'sampleVocab'. */
  init?: 'random' | 'text' | 'sampleVocab';
  /** Text whose token embeddings initialise the prompt (init 'text'; needs a tokenizer in addAdapter). */
  initText?: string;
  /** The init text's token ids, instead of initText. */
  initTokenIds?: number[];
  /** Seed of the random initialisation (default 0). */
  seed?: number;
}

/** Prefix-Tuning (PEFT PREFIX_TUNING): N trainable keys/values per layer, attended by every query. */
export interface PrefixTuningOptions {
  type: 'prefix';
  /** Virtual tokens N (default 20). */
  numVirtualTokens?: number;
  /** Train the prefix through PEFT's reparameterisation MLP (embedding → Linear → tanh → Linear) (default false). */
  projection?: boolean;
  /** Hidden size of that MLP (default kvHeads·headDim, as PEFT). */
  encoderHiddenSize?: number;
  /** Seed of the initialisation (default 0). */
  seed?: number;
}

/** P-Tuning (PEFT P_TUNING): virtual tokens produced by a trainable MLP or LSTM prompt encoder. */
export interface PTuningOptions {
  type: 'ptuning';
  /** Virtual tokens N (default 20). */
  numVirtualTokens?: number;
  /** Prompt encoder: 'MLP' (default) or 'LSTM'. */
  encoderType?: 'MLP' | 'LSTM';
  /** Encoder hidden size (default the model's hidden size, as PEFT). */
  encoderHiddenSize?: number;
  /** LSTM layers (default 2; the MLP always has 3 linear layers, as PEFT). */
  encoderNumLayers?: number;
  /** Dropout between LSTM layers while training (default 0). */
  encoderDropout?: number;
  /** Seed of the initialisation and of dropout (default 0). */
  seed?: number;
}

export type VirtualTokenTunerOptions = PromptTuningOptions | PrefixTuningOptions | PTuningOptions;

/** AdaLoRA (PEFT's AdaLoraConfig; docs/tuners.md). */
export interface AdaLoraOptions {
  type: 'adalora';
  /** Initial rank of every adapted projection (PEFT init_r; default 12). */
  initR?: number;
  /** Target average rank after pruning (target_r; default 8). */
  targetR?: number;
  /** lora_alpha: the update is scaled by alpha / initR (default 8). */
  alpha?: number;
  /** Dropout on the adapter input during training (default 0). */
  dropout?: number;
  /** Module names or suffixes, or 'all-linear' (default). */
  targetModules?: string[] | 'all-linear';
  /** Steps of warm-up before pruning (default 0). */
  tinit?: number;
  /** Final steps with the rank pattern fixed (default 0). */
  tfinal?: number;
  /** Steps between two budget allocations (default 1). */
  deltaT?: number;
  /** EMA factor of the sensitivity (default 0.85). */
  beta1?: number;
  /** EMA factor of the uncertainty (default 0.85). */
  beta2?: number;
  /** Weight of the orthogonality regulariser (default 0.5). */
  orthRegWeight?: number;
  /** Optimizer steps of the training run the budget schedule spans (required). */
  totalStep: number;
  /** Seed of the initialisation and of dropout (default 0). */
  seed?: number;
}

/** Houlsby bottleneck adapters after attention and/or MLP outputs (docs/tuners.md). */
export interface AdapterOptions {
  type: 'adapter';
  /** Bottleneck size (default 64). */
  bottleneckDim?: number;
  /** Non-linearity between down and up projection (default 'relu'). */
  activation?: 'relu' | 'gelu' | 'silu' | 'tanh';
  /** Where adapters sit in each layer (default 'both'). */
  placement?: 'attention' | 'mlp' | 'both';
  /** Dropout on the bottleneck activations during training (default 0). */
  dropout?: number;
  /** Seed of the down-projection initialisation and of dropout (default 0). */
  seed?: number;
}


const targetModulesSchema = z.union([z.literal('all-linear'), z.array(z.string()).min(1)]);

/** Options of the AdaLoRA tuner with defaults (stream config and addAdapter validate with it). */
export const adaloraSchema = z
  .object({
    type: z.literal('adalora'),
    initR: z.number().int().positive().default(12),
    targetR: z.number().int().min(0).default(8),
    alpha: z.number().positive().default(8),
    dropout: z.number().min(0).lt(1).default(0),
    targetModules: targetModulesSchema.default('all-linear'),
    tinit: z.number().int().min(0).default(0),
    tfinal: z.number().int().min(0).default(0),
    deltaT: z.number().int().positive().default(1),
    beta1: z.number().gt(0).lt(1).default(0.85),
    beta2: z.number().gt(0).lt(1).default(0.85),
    orthRegWeight: z.number().min(0).default(0.5),
    totalStep: z.number().int().positive(),
    seed: z.number().int().min(0).default(0),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.targetR > o.initR) ctx.addIssue({ code: 'custom', path: ['targetR'], message: `must be ≤ initR (${o.initR})` });
    if (o.tinit >= o.totalStep - o.tfinal) ctx.addIssue({ code: 'custom', path: ['tinit'], message: 'must be < totalStep − tfinal (no budget phase otherwise)' });
  });

/** Options of the Houlsby adapter tuner with defaults. */
export const adapterSchema = z
  .object({
    type: z.literal('adapter'),
    bottleneckDim: z.number().int().positive().default(64),
    activation: z.enum(['relu', 'gelu', 'silu', 'tanh']).default('relu'),
    placement: z.enum(['attention', 'mlp', 'both']).default('both'),
    dropout: z.number().min(0).lt(1).default(0),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

function parseTuner<T>(schema: z.ZodType<T>, options: unknown): T {
  const parsed = schema.safeParse(options);
  if (parsed.success) return parsed.data;
  const { field, message } = firstIssue(parsed.error, 'tuner');
  throw new ConfigError(`tuner option "${field}": ${message}`, { field });
}

export type TunerOptions = LoraOptions | MoeLoraOptions | FullOptions | VirtualTokenTunerOptions | AdaLoraOptions | AdapterOptions;

const tokens = z.number().int().positive().default(20);
const seed = z.number().int().min(0).default(0);
/** zod schemas of the virtual-token tuners (with their defaults); the stream config reuses them. */
export const virtualTokenTunerSchemas = [
  z
    .object({
      type: z.literal('prompt'),
      numVirtualTokens: tokens,
      init: z.enum(['random', 'text', 'sampleVocab']).default('random'),
      initText: z.string().min(1).optional(),
      initTokenIds: z.array(z.number().int().min(0)).min(1).optional(),
      seed,
    })
    .strict(),
  z
    .object({
      type: z.literal('prefix'),
      numVirtualTokens: tokens,
      projection: z.boolean().default(false),
      encoderHiddenSize: z.number().int().positive().optional(),
      seed,
    })
    .strict(),
  z
    .object({
      type: z.literal('ptuning'),
      numVirtualTokens: tokens,
      encoderType: z.enum(['MLP', 'LSTM']).default('MLP'),
      encoderHiddenSize: z.number().int().positive().optional(),
      encoderNumLayers: z.number().int().positive().default(2),
      encoderDropout: z.number().min(0).lt(1).default(0),
      seed,
    })
    .strict(),
] as const;

const virtualTokenSchema = z.discriminatedUnion('type', [...virtualTokenTunerSchemas]);

export function isVirtualTokenTuner(t: TunerOptions): t is VirtualTokenTunerOptions {
  return t.type === 'prompt' || t.type === 'prefix' || t.type === 'ptuning';
}

/** Validates virtual-token tuner options (ConfigError naming the field) and fills their defaults. */
export function parseVirtualTokenOptions(options: VirtualTokenTunerOptions): VirtualTokenTunerOptions {
  const o = parseTuner(virtualTokenSchema, options) as VirtualTokenTunerOptions;
  if (o.type === 'prompt' && o.init === 'text' && !o.initText && !o.initTokenIds) {
    throw new ConfigError('tuner option "tuner.initText": init \'text\' needs initText (with a tokenizer) or initTokenIds', { field: 'tuner.initText' });
  }
  return o;
}

export const LORA_DEFAULTS = { r: 8, alpha: 32, dropout: 0.05, targetModules: 'all-linear' as const, rslora: false, seed: 0 };
export const MOELORA_DEFAULTS = { ...LORA_DEFAULTS, experts: 4 };

const moeLoraSchema = z
  .object({
    type: z.literal('moelora'),
    experts: z.number().int().min(1),
    r: z.number().int().min(1),
    alpha: z.number().positive(),
    dropout: z.number().min(0).lt(1),
    targetModules: z.union([z.literal('all-linear'), z.array(z.string()).min(1)]),
    rslora: z.boolean(),
    seed: z.number().int().min(0),
  })
  .strict()
  .refine((o) => o.r % o.experts === 0, { path: ['r'], message: 'r must be divisible by experts (each expert has rank r / experts)' });

/** Fills defaults so the native side and the saved config agree on every value; bad MoELoRA options are a ConfigError naming the field. */
export function withDefaults(options: TunerOptions): TunerOptions {
  if (options.type === 'lora') return { ...LORA_DEFAULTS, ...options };
  if (options.type === 'moelora') {
    const full = { ...MOELORA_DEFAULTS, ...options };
    const parsed = moeLoraSchema.safeParse(full);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const key = issue.path.length ? issue.path.join('.') : ((issue as { keys?: string[] }).keys?.[0] ?? '');
      const field = `tuner.${key}`;
      throw new ConfigError(`${field}: ${issue.message} (got ${JSON.stringify((full as Record<string, unknown>)[key])})`, { field });
    }
    return parsed.data;
  }
  if (isVirtualTokenTuner(options)) return parseVirtualTokenOptions(options);
  if (options.type === 'adalora') return parseTuner(adaloraSchema, options) as AdaLoraOptions;
  if (options.type === 'adapter') return parseTuner(adapterSchema, options) as AdapterOptions;
  return { trainEmbeddings: true, ...options };
}

/** The module suffixes (q_proj, ...) that `targetModules` matches among the model's projections. */
function matchedSuffixes(targetModules: string[] | 'all-linear', linearNames: string[]): string[] {
  const targets = targetModules === 'all-linear' ? ['all-linear'] : targetModules;
  const matched = new Set<string>();
  for (const name of linearNames) {
    for (const t of targets) {
      if (t === 'all-linear' || name === t || name.endsWith(`.${t}`)) matched.add(name.slice(name.lastIndexOf('.') + 1));
    }
  }
  return [...matched].sort();
}

/** PEFT's adapter_config.json for a tuner; target_modules lists the module suffixes it matched. */
export function adapterConfigFor(
  tuner: TunerOptions,
  baseModel: string,
  linearNames: string[],
  extra: { spec?: DecoderSpec; rankMask?: Record<string, boolean[]> } = {},
): Record<string, unknown> {
  if (isVirtualTokenTuner(tuner) && extra.spec) return virtualTokenAdapterConfig(tuner, baseModel, extra.spec);
  if (tuner.type === 'adalora') return adaloraConfigFor(withDefaults(tuner) as Required<AdaLoraOptions>, baseModel, matchedSuffixes(tuner.targetModules ?? 'all-linear', linearNames), extra.rankMask);
  if (tuner.type === 'adapter') {
    const o = withDefaults(tuner) as Required<AdapterOptions>;
    return {
      peft_type: 'HOULSBY_ADAPTER',
      format: 'continual-next adapter 1',
      base_model_name_or_path: baseModel,
      bottleneck_dim: o.bottleneckDim,
      activation: o.activation,
      placement: o.placement,
      dropout: o.dropout,
      continual_next: { seed: o.seed },
    };
  }

  if (tuner.type === 'moelora') return moeLoraConfig(withDefaults(tuner) as Required<MoeLoraOptions>, baseModel, linearNames);
  if (tuner.type !== 'lora') return { peft_type: 'FULL', base_model_name_or_path: baseModel, ...tuner };
  const o = withDefaults(tuner) as Required<LoraOptions>;
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: matchedSuffixes(o.targetModules, linearNames),
    use_rslora: o.rslora,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
    revision: null,
    continual_next: { seed: o.seed },
  };
}

/**
 * Our adapter_config.json for MoELoRA (PEFT has no such type): PEFT-style names where PEFT has
 * one (r, lora_alpha, ...), plus num_experts and router_init. docs/formats.md describes it.
 */
function moeLoraConfig(o: Required<MoeLoraOptions>, baseModel: string, linearNames: string[]): Record<string, unknown> {
  return {
    peft_type: 'MOELORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    format_version: 1,
    r: o.r,
    num_experts: o.experts,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: matchedSuffixes(o.targetModules, linearNames),
    use_rslora: o.rslora,
    router_init: 'zeros',
    inference_mode: true,
    continual_next: { seed: o.seed },
  };
}

/**
 * PEFT's adapter_config.json of a virtual-token tuner, with the fields PEFT writes (token_dim and
 * num_attention_heads are the KV width and KV heads for prefix tuning, as PEFT sets them for
 * grouped-query attention).
 */
function virtualTokenAdapterConfig(t: VirtualTokenTunerOptions, baseModel: string, spec: DecoderSpec): Record<string, unknown> {
  const common = {
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    num_virtual_tokens: t.numVirtualTokens ?? 20,
    num_layers: spec.numLayers,
    num_transformer_submodules: 1,
    inference_mode: true,
    modules_to_save: null,
    revision: null,
    auto_mapping: null,
  };
  if (t.type === 'prompt') {
    const init = t.init ?? 'random';
    return {
      peft_type: 'PROMPT_TUNING',
      ...common,
      token_dim: spec.hiddenSize,
      num_attention_heads: spec.numHeads,
      prompt_tuning_init: init === 'text' ? 'TEXT' : init === 'sampleVocab' ? 'SAMPLE_VOCAB' : 'RANDOM',
      prompt_tuning_init_text: init === 'text' ? (t.initText ?? null) : null,
      tokenizer_name_or_path: init === 'text' ? baseModel : null,
      tokenizer_kwargs: null,
      continual_next: { seed: t.seed ?? 0, ...(t.initTokenIds ? { initTokenIds: t.initTokenIds } : {}) },
    };
  }
  if (t.type === 'prefix') {
    const kvDim = spec.numKvHeads * spec.headDim;
    return {
      peft_type: 'PREFIX_TUNING',
      ...common,
      token_dim: kvDim,
      num_attention_heads: spec.numKvHeads,
      encoder_hidden_size: t.encoderHiddenSize ?? kvDim,
      prefix_projection: t.projection ?? false,
      init_weights: null,
      continual_next: { seed: t.seed ?? 0 },
    };
  }
  return {
    peft_type: 'P_TUNING',
    ...common,
    token_dim: spec.hiddenSize,
    num_attention_heads: spec.numHeads,
    encoder_reparameterization_type: t.encoderType ?? 'MLP',
    encoder_hidden_size: t.encoderHiddenSize ?? spec.hiddenSize,
    encoder_num_layers: t.encoderNumLayers ?? 2,
    encoder_dropout: t.encoderDropout ?? 0,
    continual_next: { seed: t.seed ?? 0 },
  };
}

const peftVirtual = z.object({
  peft_type: z.enum(['PROMPT_TUNING', 'PREFIX_TUNING', 'P_TUNING']),
  task_type: z.string().nullable().optional(),
  num_virtual_tokens: z.number().int().positive(),
  num_transformer_submodules: z.number().int().nullable().optional(),
  prompt_tuning_init: z.enum(['RANDOM', 'TEXT', 'SAMPLE_VOCAB']).nullable().optional(),
  prompt_tuning_init_text: z.string().nullable().optional(),
  prefix_projection: z.boolean().optional(),
  encoder_hidden_size: z.number().int().positive().nullable().optional(),
  encoder_reparameterization_type: z.enum(['MLP', 'LSTM']).optional(),
  encoder_num_layers: z.number().int().positive().optional(),
  encoder_dropout: z.number().min(0).lt(1).optional(),
  continual_next: z.object({ seed: z.number().int().min(0).optional() }).passthrough().optional(),
});

function virtualTokenFromAdapterConfig(json: unknown, file: string): VirtualTokenTunerOptions {
  const parsed = peftVirtual.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${file}: field "${issue.path.join('.')}": ${issue.message}`, { file, field: issue.path.join('.') });
  }
  const c = parsed.data;
  if (c.task_type && c.task_type !== 'CAUSAL_LM') throw new ConfigError(`${file}: task_type '${c.task_type}' is not supported (only CAUSAL_LM)`, { file, field: 'task_type' });
  if ((c.num_transformer_submodules ?? 1) !== 1) throw new ConfigError(`${file}: num_transformer_submodules must be 1 (decoder-only models)`, { file, field: 'num_transformer_submodules' });
  const seed = c.continual_next?.seed ?? 0;
  if (c.peft_type === 'PROMPT_TUNING') {
    // the embeddings come from the file, so the init is only recorded
    const init = c.prompt_tuning_init === 'SAMPLE_VOCAB' ? 'sampleVocab' : 'random';
    return { type: 'prompt', numVirtualTokens: c.num_virtual_tokens, init, seed };
  }
  if (c.peft_type === 'PREFIX_TUNING') {
    return { type: 'prefix', numVirtualTokens: c.num_virtual_tokens, projection: c.prefix_projection ?? false, ...(c.encoder_hidden_size ? { encoderHiddenSize: c.encoder_hidden_size } : {}), seed };
  }
  return {
    type: 'ptuning',
    numVirtualTokens: c.num_virtual_tokens,
    encoderType: c.encoder_reparameterization_type ?? 'MLP',
    ...(c.encoder_hidden_size ? { encoderHiddenSize: c.encoder_hidden_size } : {}),
    encoderNumLayers: c.encoder_num_layers ?? 2,
    encoderDropout: c.encoder_dropout ?? 0,
    seed,
  };
}

/**
 * PEFT's AdaLoraConfig. Tensors are saved at full rank init_r with pruned triplets' lora_E zero,
 * so rank_pattern stays null (PEFT would otherwise expect rank-pruned tensors); the rank mask is
 * kept in continual_next.rank_mask (module → kept triplets) for our loader.
 */
function adaloraConfigFor(o: Required<AdaLoraOptions>, baseModel: string, matched: Iterable<string>, rankMask?: Record<string, boolean[]>): Record<string, unknown> {
  return {
    peft_type: 'ADALORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    init_r: o.initR,
    target_r: o.targetR,
    r: 8,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: [...matched].sort(),
    tinit: o.tinit,
    tfinal: o.tfinal,
    deltaT: o.deltaT,
    beta1: o.beta1,
    beta2: o.beta2,
    orth_reg_weight: o.orthRegWeight,
    total_step: o.totalStep,
    rank_pattern: null,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    use_dora: false,
    continual_next: { seed: o.seed, ...(rankMask ? { rank_mask: rankMask } : {}) },
  };
}

const peftAdaLora = z.object({
  peft_type: z.literal('ADALORA'),
  init_r: z.number().int().positive(),
  target_r: z.number().int().min(0),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1).optional(),
  target_modules: z.union([z.array(z.string()), z.string()]).nullable().optional(),
  tinit: z.number().int().min(0).optional(),
  tfinal: z.number().int().min(0).optional(),
  deltaT: z.number().int().positive().optional(),
  beta1: z.number().optional(),
  beta2: z.number().optional(),
  orth_reg_weight: z.number().min(0).optional(),
  total_step: z.number().int().positive(),
  rank_pattern: z.record(z.string(), z.array(z.boolean())).nullable().optional(),
  bias: z.string().optional(),
  fan_in_fan_out: z.boolean().optional(),
  use_dora: z.boolean().optional(),
  continual_next: z.object({ seed: z.number().int().min(0).optional(), rank_mask: z.record(z.string(), z.array(z.boolean())).optional() }).passthrough().optional(),
});

const ourAdapter = z.object({
  peft_type: z.literal('HOULSBY_ADAPTER'),
  bottleneck_dim: z.number().int().positive(),
  activation: z.enum(['relu', 'gelu', 'silu', 'tanh']),
  placement: z.enum(['attention', 'mlp', 'both']),
  dropout: z.number().min(0).lt(1).optional(),
  continual_next: z.object({ seed: z.number().int().min(0).optional() }).passthrough().optional(),
});

function parseConfig<T>(schema: z.ZodType<T>, json: unknown, file: string): T {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigError(`${file}: field "${issue.path.join('.')}": ${issue.message}`, { file, field: issue.path.join('.') });
}

/**
 * The rank mask of a saved AdaLoRA adapter, module name → kept triplets: PEFT's rank_pattern
 * (keys "<module>.lora_E", tensors then rank-pruned) or ours (continual_next.rank_mask).
 */
export function adaloraRankMask(json: unknown): Record<string, boolean[]> | undefined {
  const c = json as { rank_pattern?: Record<string, boolean[]> | null; continual_next?: { rank_mask?: Record<string, boolean[]> } };
  if (c.rank_pattern) {
    const out: Record<string, boolean[]> = {};
    for (const [k, v] of Object.entries(c.rank_pattern)) out[k.replace(/\.lora_E(\.default)?$/, '')] = v;
    return out;
  }
  return c.continual_next?.rank_mask;
}


const savedMoeLora = z.object({
  peft_type: z.literal('MOELORA'),
  format_version: z.literal(1).optional(),
  r: z.number().int().positive(),
  num_experts: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1).optional(),
  target_modules: z.union([z.array(z.string()).min(1), z.string()]).nullable().optional(),
  use_rslora: z.boolean().optional(),
  continual_next: z.object({ seed: z.number().int().min(0).optional() }).passthrough().optional(),
});

const peftLora = z.object({
  peft_type: z.literal('LORA'),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1).optional(),
  target_modules: z.union([z.array(z.string()), z.string()]).nullable().optional(),
  use_rslora: z.boolean().optional(),
  use_dora: z.boolean().optional(),
  bias: z.string().optional(),
  fan_in_fan_out: z.boolean().optional(),
  rank_pattern: z.record(z.string(), z.unknown()).optional().nullable(),
  alpha_pattern: z.record(z.string(), z.unknown()).optional().nullable(),
});

/** Reads a PEFT adapter_config.json into tuner options; unsupported features are errors. */
export function tunerFromAdapterConfig(json: unknown, file: string): TunerOptions {
  const type = (json as { peft_type?: string } | null)?.peft_type;
  if (type === 'FULL') return { type: 'full' };
  if (type === 'MOELORA') return moeLoraFromConfig(json, file);
  if (type === 'ADALORA') {
    const c = parseConfig(peftAdaLora, json, file);
    if (c.use_dora) throw new ConfigError(`${file}: DoRA adapters are not supported`, { file, field: 'use_dora' });
    if (c.bias && c.bias !== 'none') throw new ConfigError(`${file}: bias '${c.bias}' is not supported (only 'none')`, { file, field: 'bias' });
    if (c.fan_in_fan_out) throw new ConfigError(`${file}: fan_in_fan_out adapters are not supported`, { file, field: 'fan_in_fan_out' });
    const t = c.target_modules;
    const targets = t == null || t === 'all-linear' ? 'all-linear' : typeof t === 'string' ? [t] : t;
    const options: AdaLoraOptions = {
      type: 'adalora', initR: c.init_r, targetR: c.target_r, alpha: c.lora_alpha, dropout: c.lora_dropout ?? 0, targetModules: targets,
      tinit: c.tinit ?? 0, tfinal: c.tfinal ?? 0, deltaT: c.deltaT ?? 1, beta1: c.beta1 ?? 0.85, beta2: c.beta2 ?? 0.85,
      orthRegWeight: c.orth_reg_weight ?? 0.5, totalStep: c.total_step, seed: c.continual_next?.seed ?? 0,
    };
    try {
      return withDefaults(options);
    } catch (e) {
      throw new ConfigError(`${file}: ${(e as Error).message}`, { file, field: (e as ConfigError).field });
    }
  }
  if (type === 'HOULSBY_ADAPTER') {
    const c = parseConfig(ourAdapter, json, file);
    return { type: 'adapter', bottleneckDim: c.bottleneck_dim, activation: c.activation, placement: c.placement, dropout: c.dropout ?? 0, seed: c.continual_next?.seed ?? 0 };
  }
  if (type === 'PROMPT_TUNING' || type === 'PREFIX_TUNING' || type === 'P_TUNING') return virtualTokenFromAdapterConfig(json, file);
  if (type !== 'LORA') {
    throw new ConfigError(`${file}: peft_type '${String(type)}' is not supported yet (supported: LORA, MOELORA, ADALORA, HOULSBY_ADAPTER, PROMPT_TUNING, PREFIX_TUNING, P_TUNING)`, { file, field: 'peft_type' });
  }
  const parsed = peftLora.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${file}: field "${issue.path.join('.')}": ${issue.message}`, { file, field: issue.path.join('.') });
  }
  const c = parsed.data;
  const refuse = (field: string, why: string) => {
    throw new ConfigError(`${file}: ${why}`, { file, field });
  };
  if (c.use_dora) refuse('use_dora', 'DoRA adapters are not supported');
  if (c.bias && c.bias !== 'none') refuse('bias', `bias '${c.bias}' is not supported (only 'none')`);
  if (c.fan_in_fan_out) refuse('fan_in_fan_out', 'fan_in_fan_out adapters are not supported');
  if (c.rank_pattern && Object.keys(c.rank_pattern).length) refuse('rank_pattern', 'per-module ranks (rank_pattern) are not supported');
  if (c.alpha_pattern && Object.keys(c.alpha_pattern).length) refuse('alpha_pattern', 'per-module alphas (alpha_pattern) are not supported');
  return { type: 'lora', r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout ?? 0, targetModules: targetsOf(c.target_modules), rslora: c.use_rslora ?? false };
}

function targetsOf(saved: string[] | string | null | undefined): string[] | 'all-linear' {
  if (saved == null || saved === 'all-linear') return 'all-linear';
  return typeof saved === 'string' ? [saved] : saved;
}

function moeLoraFromConfig(json: unknown, file: string): MoeLoraOptions {
  const parsed = savedMoeLora.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${file}: field "${issue.path.join('.')}": ${issue.message}`, { file, field: issue.path.join('.') });
  }
  const c = parsed.data;
  if (c.r % c.num_experts !== 0) {
    throw new ConfigError(`${file}: r (${c.r}) is not divisible by num_experts (${c.num_experts})`, { file, field: 'r' });
  }
  return {
    type: 'moelora',
    r: c.r,
    experts: c.num_experts,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout ?? 0,
    targetModules: targetsOf(c.target_modules),
    rslora: c.use_rslora ?? false,
    seed: c.continual_next?.seed ?? 0,
  };
}
