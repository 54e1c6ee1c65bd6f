/**
 * Continual-learning method options, validated with zod; one schema per method, with the
 * defaults documented in docs/methods.md. `seqft` (plain sequential fine-tuning) and `replay`
 * act on data in TS (ts/stream); the others run natively (native/methods/<name>.cc) and are set
 * on a Model with `model.setMethod(...)`.
 */
import { z } from 'zod';

const label = z.string().optional();

export const seqftSchema = z
  .object({
    name: z.literal('seqft'),
    label,
    /** Reproduce the reference's bug: every task trains a fresh adapter on the base model. */
    fromBase: z.boolean().default(false),
  })
  .strict();

export const replaySchema = z
  .object({
    name: z.literal('replay'),
    label,
    /** Samples kept per past task (the reference keeps 20), or a fraction of each task with `ratio`. */
    perTask: z.number().int().positive().optional(),
    ratio: z.number().positive().max(1).optional(),
    selection: z.enum(['random', 'reservoir']).default('random'),
  })
  .strict();

export const ewcSchema = z
  .object({
    name: z.literal('ewc'),
    label,
    /** Penalty strength λ in (λ/2) Σ F̃ (θ − θ*)². */
    lambda: z.number().min(0).default(1000),
    /** Online decay γ of the accumulated Fisher: F̃ ← γ F̃ + F_t (1 = plain sum over tasks). */
    gamma: z.number().min(0).default(1),
    /** Training samples per task the Fisher is estimated on. */
    samples: z.number().int().positive().default(64),
    /** 'sample': squared per-sample gradients (exact empirical Fisher); 'batch': squared mini-batch gradients (cheaper approximation). */
    fisher: z.enum(['sample', 'batch']).default('sample'),
    /** Mini-batch size for fisher 'batch'. */
    batchSize: z.number().int().positive().default(8),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

export const lwfSchema = z
  .object({
    name: z.literal('lwf'),
    label,
    /** Weight α of the distillation term α·T²·KL(teacher ‖ student). */
    alpha: z.number().min(0).default(1),
    /** Softmax temperature T. */
    temperature: z.number().positive().default(2),
  })
  .strict();

const memory = {
  /** Training samples kept per finished task. */
  memoryPerTask: z.number().int().positive().default(20),
  seed: z.number().int().min(0).default(0),
};

export const gemSchema = z
  .object({
    name: z.literal('gem'),
    label,
    ...memory,
    /** Lower bound of the dual variables (the GEM paper's memory strength); 0 = the exact projection. */
    margin: z.number().min(0).default(0.5),
  })
  .strict();

export const agemSchema = z
  .object({
    name: z.literal('agem'),
    label,
    ...memory,
    /** Memory samples drawn for each step's reference gradient (each step pays one extra forward + backward of them). */
    referenceBatch: z.number().int().positive().default(4),
  })
  .strict();

export const ciaSchema = z
  .object({
    name: z.literal('cia'),
    label,
    /** Scale c of the adaptive EMA weight β = c (1 + ‖g‖₁) / (‖θ − θ̄‖₁ ‖g − g_prev‖₁). */
    c: z.number().positive().default(0.01),
    /** Fallback EMA weight β₀ when the adaptive one is not in (0, 1). */
    beta0: z.number().positive().max(1).default(0.001),
  })
  .strict();

export const methodSchema = z.discriminatedUnion('name', [seqftSchema, replaySchema, ewcSchema, lwfSchema, gemSchema, agemSchema, ciaSchema]);

export type MethodConfig = z.output<typeof methodSchema>;
export type MethodConfigInput = z.input<typeof methodSchema>;
export type NativeMethodConfig = Extract<MethodConfig, { name: 'ewc' | 'lwf' | 'gem' | 'agem' | 'cia' }>;

/** Methods implemented natively (set on the model); seqft and replay act on the data. */
export const NATIVE_METHODS = ['ewc', 'lwf', 'gem', 'agem', 'cia'] as const;

export function isNativeMethod(m: MethodConfig): m is NativeMethodConfig {
  return (NATIVE_METHODS as readonly string[]).includes(m.name);
}

const LABELS: Record<MethodConfig['name'], string> = { seqft: 'LoRA', replay: 'Replay', ewc: 'EWC', lwf: 'LwF', gem: 'GEM', agem: 'A-GEM', cia: 'CIA' };

/** The row label of a method in tables ("LoRA" for plain sequential fine-tuning, as the seed prints it). */
export function methodLabel(m: MethodConfig): string {
  if (m.label) return m.label;
  if (m.name === 'seqft' && m.fromBase) return 'LoRA (from base, reference behaviour)';
  return LABELS[m.name];
}

/** Validates one method's options (e.g. for Model.setMethod); errors name the field. */
export function parseMethod(input: MethodConfigInput): MethodConfig {
  return methodSchema.parse(input);
}
