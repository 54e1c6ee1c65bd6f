/**
 * Stream configuration: model, tuner, methods to compare, ordered tasks, training and generation
 * options, seeds, scorers, output directory. JSON or YAML, validated with zod; ms-swift flag
 * names (lora_rank, num_train_epochs, ...) are accepted as aliases. Relative paths resolve
 * against the config file's folder.
 */
import fs from 'node:fs';
import path from 'node:path';

import YAML from 'yaml';
import { z } from 'zod';

import { ConfigError, IoError } from '../errors';
import { methodLabel, methodSchema } from '../methods/options';
import { trainOptionsSchema } from '../train/options';
import { firstIssue } from '../util/zod-field';
import { adaloraSchema, adapterSchema, virtualTokenTunerSchemas } from '../model/tuner-options';

/** ms-swift flag names → our names (training options unless prefixed `tuner.`). */
export const SWIFT_ALIASES: Record<string, string> = {
  num_train_epochs: 'training.epochs',
  per_device_train_batch_size: 'training.batchSize',
  gradient_accumulation_steps: 'training.gradientAccumulation',
  learning_rate: 'training.learningRate',
  lr_scheduler_type: 'training.lrScheduler',
  warmup_ratio: 'training.warmupRatio',
  warmup_steps: 'training.warmupSteps',
  weight_decay: 'training.weightDecay',
  max_grad_norm: 'training.maxGradNorm',
  max_length: 'training.maxLength',
  max_steps: 'training.maxSteps',
  seed: 'training.seed',
  gradient_checkpointing: 'training.gradientCheckpointing',
  train_type: 'tuner.type',
  lora_rank: 'tuner.r',
  lora_alpha: 'tuner.alpha',
  lora_dropout: 'tuner.dropout',
  target_modules: 'tuner.targetModules',
  use_rslora: 'tuner.rslora',
  max_new_tokens: 'generation.maxNewTokens',
  output_dir: 'output',
};

const tunerSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('lora'),
      r: z.number().int().positive().default(8),
      alpha: z.number().positive().default(32),
      dropout: z.number().min(0).lt(1).default(0.05),
      targetModules: z.union([z.literal('all-linear'), z.array(z.string()).min(1)]).default('all-linear'),
      rslora: z.boolean().default(false),
      seed: z.number().int().min(0).default(0),
    })
    .strict(),
  z.object({ type: z.literal('full'), trainEmbeddings: z.boolean().default(true) }).strict(),
  // MoELoRA: LoRA's fields plus experts (r divisible by experts: checked below)
  z.object({ type: z.literal('moelora'), experts: z.number().int().min(1).default(4), r: z.number().int().positive().default(8), alpha: z.number().positive().default(32), dropout: z.number().min(0).lt(1).default(0.05), targetModules: z.union([z.literal('all-linear'), z.array(z.string()).min(1)]).default('all-linear'), rslora: z.boolean().default(false), seed: z.number().int().min(0).default(0) }).strict(),
  ...virtualTokenTunerSchemas, // prompt, prefix, ptuning
  adaloraSchema,
  adapterSchema,
]);

const checkedTunerSchema = tunerSchema.refine((t) => t.type !== 'moelora' || t.r % t.experts === 0, { path: ['r'], message: 'r must be divisible by experts' });

const taskSchema = z
  .object({
    name: z.string().min(1),
    train: z.string().min(1),
    test: z.string().min(1),
  })
  .strict();

export const streamConfigSchema = z
  .object({
    name: z.string().default('stream'),
    model: z.string().min(1),
    /** A built-in template name or Jinja source, for models whose tokenizer has no chat template. */
    chatTemplate: z.string().optional(),
    device: z.string().default('cpu'),
    dtype: z.enum(['float32', 'bfloat16', 'float16']).default('float32'),
    tuner: checkedTunerSchema.default({ type: 'lora' } as never),
    /** Several tuners compared in one run (instead of `tuner`): each runs every method, one table row per pair. */
    tuners: z.array(checkedTunerSchema).min(1).optional(),
    methods: z.array(methodSchema).min(1).default([{ name: 'seqft' }] as never),
    tasks: z.array(taskSchema).min(1),
    training: trainOptionsSchema.default({} as never),
    generation: z
      .object({
        maxNewTokens: z.number().int().positive().default(32),
        batchSize: z.number().int().positive().default(32),
        stop: z.array(z.string()).default([]),
      })
      .strict()
      .default({} as never),
    seeds: z.array(z.number().int().min(0)).min(1).default([42]),
    /** Task orders to run, each a permutation of the task names (default: the tasks' order). */
    orders: z.array(z.array(z.string().min(1)).min(1)).min(1).optional(),
    /** Scorer names, or `{ name, ...options }` for scorers with options (embedding-cosine's `model`). */
    scorers: z.array(z.union([z.string().min(1), z.object({ name: z.string().min(1) }).catchall(z.unknown())])).min(1).default(['contains']),
    output: z.string().default('runs/stream'),
  })
  .strict();

export type StreamConfig = z.output<typeof streamConfigSchema>;
export type StreamConfigInput = z.input<typeof streamConfigSchema>;
export type MethodConfig = StreamConfig['methods'][number];

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}

/** Moves ms-swift-named keys (top level, or inside training/tuner) to our names. */
export function applySwiftAliases(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const scope of ['', 'training.', 'tuner.']) {
    const holder = scope ? (out[scope.slice(0, -1)] as Record<string, unknown> | undefined) : out;
    if (!holder || typeof holder !== 'object') continue;
    for (const [flag, target] of Object.entries(SWIFT_ALIASES)) {
      if (flag in holder) {
        const value = holder[flag];
        delete holder[flag];
        setPath(out, target, value);
      }
    }
  }
  // lora_rank & co. without train_type mean LoRA, as in ms-swift
  const tuner = out.tuner as Record<string, unknown> | undefined;
  if (tuner && typeof tuner === 'object' && tuner.type === undefined) tuner.type = 'lora';
  return out;
}

/** Validates a stream config object; `file` names it in errors and anchors relative paths. */
export function parseStreamConfig(raw: unknown, file = '(config)'): StreamConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${file}: a stream config must be an object`, { file });
  const parsed = streamConfigSchema.safeParse(applySwiftAliases(raw as Record<string, unknown>));
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw new ConfigError(`${file}: field "${field}": ${message}`, { file, field });
  }
  const config = parsed.data;
  const names = new Set<string>();
  for (const t of config.tasks) {
    if (names.has(t.name)) throw new ConfigError(`${file}: task name "${t.name}" appears twice`, { file, field: 'tasks' });
    names.add(t.name);
  }
  for (const [i, order] of (config.orders ?? []).entries()) {
    const wanted = [...names].sort().join('\u0000');
    if ([...order].sort().join('\u0000') !== wanted) {
      throw new ConfigError(`${file}: orders[${i}] must list every task exactly once (${[...names].join(', ')}); got ${order.join(', ')}`, { file, field: `orders.${i}` });
    }
  }
  const labels = new Set<string>();
  for (const label of (config.tuners ?? [config.tuner]).flatMap((t) => config.methods.map((m) => rowLabel(config, t, m)))) {
    if (labels.has(label)) throw new ConfigError(`${file}: two rows are labelled "${label}"; give a method a label`, { file, field: 'methods' });
    labels.add(label);
  }
  const base = file === '(config)' ? process.cwd() : path.dirname(path.resolve(file));
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(base, p));
  const withoutSample = (p: string) => {
    const hash = p.lastIndexOf('#');
    return hash > 0 && /^#\d+$/.test(p.slice(hash)) ? abs(p.slice(0, hash)) + p.slice(hash) : abs(p);
  };
  return {
    ...config,
    model: abs(config.model),
    output: abs(config.output),
    tasks: config.tasks.map((t) => ({ ...t, train: withoutSample(t.train), test: withoutSample(t.test) })),
    scorers: config.scorers.map((s) => (typeof s === 'object' && typeof s.model === 'string' ? { ...s, model: abs(s.model) } : s)),
  };
}

/** Reads a .json, .yaml or .yml stream config. */
export function readStreamConfig(file: string): StreamConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new IoError(`cannot read stream config ${file}: ${(e as Error).message}`, { file });
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`, { file });
  }
  return parseStreamConfig(raw, file);
}

export { methodLabel };

export type TunerConfig = StreamConfig['tuner'];

const TUNER_LABELS: Record<TunerConfig['type'], string> = {
  lora: 'LoRA',
  moelora: 'MoELoRA',
  adalora: 'AdaLoRA',
  adapter: 'Adapter',
  prompt: 'Prompt-Tuning',
  prefix: 'Prefix-Tuning',
  ptuning: 'P-Tuning',
  full: 'Full FT',
};

/**
 * A results row's label. With one `tuner` it is the method's ("LoRA" for plain sequential
 * training, as the seed prints it); with a `tuners` list it names the tuner too: "Adapter" for
 * plain sequential training with adapters, "Adapter + Replay", ...
 */
export function rowLabel(config: Pick<StreamConfig, 'tuners'>, tuner: TunerConfig, method: MethodConfig): string {
  if (!config.tuners) return methodLabel(method);
  const t = TUNER_LABELS[tuner.type];
  if (method.name === 'seqft' && !method.label) return method.fromBase ? `${t} (from base, reference behaviour)` : t;
  return `${t} + ${methodLabel(method)}`;
}
