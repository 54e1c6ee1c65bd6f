/**
 * Training options, validated with zod. Names follow ms-swift's flags in camelCase
 * (num_train_epochs → epochs, per_device_train_batch_size → batchSize, ...).
 */
import { z } from 'zod';

import { ConfigError } from '../errors';
import { firstIssue } from '../util/zod-field';

export const trainOptionsSchema = z
  .object({
    /** Passes over the data (default 1). */
    epochs: z.number().int().positive().default(1),
    /** Examples per micro-batch (default 1). */
    batchSize: z.number().int().positive().default(1),
    /** Micro-batches per optimizer step (default 1). */
    gradientAccumulation: z.number().int().positive().default(1),
    /** Stop after this many optimizer steps (default: from epochs). */
    maxSteps: z.number().int().positive().optional(),
    /** Peak learning rate (default 1e-4). */
    learningRate: z.number().positive().default(1e-4),
    /** constant | linear (default) | cosine, after linear warmup. */
    lrScheduler: z.enum(['constant', 'linear', 'cosine']).default('linear'),
    warmupSteps: z.number().int().min(0).default(0),
    warmupRatio: z.number().min(0).max(1).default(0),
    adamBeta1: z.number().min(0).lt(1).default(0.9),
    adamBeta2: z.number().min(0).lt(1).default(0.999),
    adamEpsilon: z.number().positive().default(1e-8),
    /** Decoupled weight decay (default 0). */
    weightDecay: z.number().min(0).default(0),
    /** Clip the global gradient norm to this (0 = off, default 1). */
    maxGradNorm: z.number().min(0).default(1),
    /** Seed of shuffling and dropout (default 42). */
    seed: z.number().int().min(0).default(42),
    /** Batch examples of similar length together to avoid padding (default true). */
    groupByLength: z.boolean().default(true),
    /** Truncate tokenised examples to this many tokens (default 2048). */
    maxLength: z.number().int().positive().default(2048),
    /** Recompute each layer in the backward pass instead of keeping its activations (default false). */
    gradientCheckpointing: z.boolean().default(false),
    /** Folder for the resumable trainer state (tuner, optimizer, data position, RNG). */
    checkpointDir: z.string().min(1).optional(),
    /** Write the trainer state every N optimizer steps (and always at the end) when checkpointDir is set. */
    checkpointEvery: z.number().int().min(0).default(0),
    /** Continue from checkpointDir's state when there is one (default false). */
    resume: z.boolean().default(false),
    /** Data parallel (fit({ processGroup })): size of a gradient all-reduce bucket, in MB of fp32. */
    ddpBucketMb: z.number().positive().default(4),
    /**
     * Data parallel: 0 keeps optimizer state and gradients whole on every rank; 1 shards the
     * optimizer state over the ranks (ZeRO stage 1); 2 also the gradients (reduce-scattered to
     * their owner rank, the others freed: ZeRO stage 2). See docs/distributed.md.
     */
    zeroStage: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0, 1 or 2 (ZeRO-3 is not implemented)' }).default(0),
  })
  .strict();

export type TrainOptions = z.input<typeof trainOptionsSchema>;
export type ResolvedTrainOptions = z.output<typeof trainOptionsSchema>;

/** Validates options; errors name the field (and `file` when the options came from one). */
export function resolveTrainOptions(options: TrainOptions, file?: string): ResolvedTrainOptions {
  const r = trainOptionsSchema.safeParse(options);
  if (!r.success) {
    const { field, message } = firstIssue(r.error);
    throw new ConfigError(`${file ? `${file}: ` : ''}training option "${field}": ${message}`, { file, field });
  }
  return r.data;
}
