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

export type TunerOptions = LoraOptions | MoeLoraOptions | FullOptions;

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
export function adapterConfigFor(tuner: TunerOptions, baseModel: string, linearNames: string[]): Record<string, unknown> {
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
  if (type !== 'LORA') {
    throw new ConfigError(`${file}: peft_type '${String(type)}' is not supported yet (supported: LORA, MOELORA)`, { file, field: 'peft_type' });
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
