/**
 * Tuner options (TS side) and their mapping to and from PEFT's adapter_config.json.
 * Defaults follow ms-swift's LoRA defaults (r 8, alpha 32, dropout 0.05, all linear layers).
 */
import { z } from 'zod';

import { ConfigError } from '../errors';

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

export interface FullOptions {
  type: 'full';
  /** Also train the embeddings and the output head (default true). */
  trainEmbeddings?: boolean;
}

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

export type TunerOptions = LoraOptions | FullOptions | AdaLoraOptions | AdapterOptions;

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
  const issue = parsed.error.issues[0];
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const field = ['tuner', ...issue.path.map(String), ...(keys.length ? [keys.join(', ')] : [])].join('.');
  throw new ConfigError(`tuner option "${field}": ${issue.message}`, { field });
}

export const LORA_DEFAULTS = { r: 8, alpha: 32, dropout: 0.05, targetModules: 'all-linear' as const, rslora: false, seed: 0 };

/** Fills defaults so the native side and the saved config agree on every value. */
export function withDefaults(options: TunerOptions): TunerOptions {
  if (options.type === 'lora') return { ...LORA_DEFAULTS, ...options };
  if (options.type === 'adalora') return parseTuner(adaloraSchema, options) as AdaLoraOptions;
  if (options.type === 'adapter') return parseTuner(adapterSchema, options) as AdapterOptions;
  return { trainEmbeddings: true, ...options };
}

/** PEFT's adapter_config.json for a tuner; target_modules lists the module suffixes it matched. */
export function adapterConfigFor(
  tuner: TunerOptions,
  baseModel: string,
  linearNames: string[],
  extra: { rankMask?: Record<string, boolean[]> } = {},
): Record<string, unknown> {
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
  if (tuner.type !== 'lora') return { peft_type: 'FULL', base_model_name_or_path: baseModel, ...tuner };
  const o = withDefaults(tuner) as Required<LoraOptions>;
  const matched = matchedSuffixes(o.targetModules, linearNames);
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: [...matched].sort(),
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

/** The module-name suffixes (q_proj, ...) the targets match among the model's projections. */
function matchedSuffixes(targetModules: string[] | 'all-linear', linearNames: string[]): Set<string> {
  const targets = targetModules === 'all-linear' ? ['all-linear'] : targetModules;
  const matched = new Set<string>();
  for (const name of linearNames) {
    for (const t of targets) {
      if (t === 'all-linear' || name === t || name.endsWith(`.${t}`)) matched.add(name.slice(name.lastIndexOf('.') + 1));
    }
  }
  return matched;
}

/**
 * PEFT's AdaLoraConfig. Tensors are saved at full rank init_r with pruned triplets' lora_E zero,
 * so rank_pattern stays null (PEFT would otherwise expect rank-pruned tensors); the rank mask is
 * kept in continual_next.rank_mask (module → kept triplets) for our loader.
 */
function adaloraConfigFor(o: Required<AdaLoraOptions>, baseModel: string, matched: Set<string>, rankMask?: Record<string, boolean[]>): Record<string, unknown> {
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
  if (type !== 'LORA') {
    throw new ConfigError(`${file}: peft_type '${String(type)}' is not supported yet (supported: LORA, ADALORA, HOULSBY_ADAPTER)`, { file, field: 'peft_type' });
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
  const targets = c.target_modules == null ? 'all-linear' : typeof c.target_modules === 'string' ? (c.target_modules === 'all-linear' ? 'all-linear' : [c.target_modules]) : c.target_modules;
  return { type: 'lora', r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout ?? 0, targetModules: targets, rslora: c.use_rslora ?? false };
}
