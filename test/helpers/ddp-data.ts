/** The tiny model and data of the data-parallel parity test (shared by the test and its workers). */
import path from 'node:path';

import { Trainer, type DecoderSpec, type MethodConfigInput, type Model, type TrainOptions } from '../../ts/index';
import type { TrainSummary } from '../../ts/native/bindings';
import { replayIndices } from '../../ts/stream/replay';
import { TINY_SPEC } from './tiny-model';

export const DDP_SPEC: DecoderSpec = { ...TINY_SPEC, hiddenSize: 32, headDim: 8, intermediateSize: 64, maxPositionEmbeddings: 64 };

/** 9 examples of different lengths and answer sizes: with a global batch of 4 the last micro-batch has one example, so rank 1 has none there. */
export const DDP_EXAMPLES = Array.from({ length: 9 }, (_, i) => {
  const q = Array.from({ length: 3 + (i % 4) }, (_, j) => 2 + ((i * 7 + j * 3) % 40));
  const a = Array.from({ length: 2 + (i % 3) }, (_, j) => 20 + ((i * 5 + j) % 40));
  return { inputIds: [...q, ...a], labels: [...q.map(() => -100), ...a] };
});

/** A second task: other answers to similar questions. */
export const DDP_TASK2 = Array.from({ length: 7 }, (_, i) => {
  const q = Array.from({ length: 3 + (i % 3) }, (_, j) => 2 + ((i * 11 + j * 5) % 40));
  const a = Array.from({ length: 2 + (i % 2) }, (_, j) => 30 + ((i * 3 + j) % 30));
  return { inputIds: [...q, ...a], labels: [...q.map(() => -100), ...a] };
});

type Fit = Parameters<Trainer['fit']>[1];

/**
 * Trains the model on DDP_EXAMPLES, and with a CL method also on DDP_TASK2 after the task
 * boundary (so the method's state from task 0 acts on task 1). Replay (data-side, as the stream
 * runner does it) adds its seeded pick of task 0's examples to task 1's. Returns each optimizer
 * step's loss.
 */
export async function trainTasks(model: Model, options: TrainOptions, method: MethodConfigInput | undefined, fit: Fit = {}): Promise<{ losses: number[]; summary: TrainSummary }> {
  const losses: number[] = [];
  const onProgress = (p: Parameters<NonNullable<Fit['onProgress']>>[0]) => {
    losses.push(p.loss);
    fit.onProgress?.(p);
  };
  if (!method) return { losses, summary: await new Trainer(model, options).fit(DDP_EXAMPLES, { ...fit, onProgress }) };
  if (method.name === 'replay' || method.name === 'seqft') {
    await new Trainer(model, options).fit(DDP_EXAMPLES, { ...fit, onProgress });
    const replayed = method.name === 'replay' ? replayIndices([DDP_EXAMPLES.length], { selection: 'random', ...method }, 1)[0].map((i) => DDP_EXAMPLES[i]) : [];
    return { losses, summary: await new Trainer(model, options).fit([...DDP_TASK2, ...replayed], { ...fit, onProgress }) };
  }
  // a checkpoint folder per task, as the stream runner keeps them
  const task = (k: number): TrainOptions => (options.checkpointDir ? { ...options, checkpointDir: path.join(options.checkpointDir, `task-${k}`) } : options);
  model.setMethod(method);
  await model.beforeTask(0);
  await new Trainer(model, task(0)).fit(DDP_EXAMPLES, { ...fit, onProgress });
  await model.afterTask(0, DDP_EXAMPLES, fit.processGroup ? { processGroup: fit.processGroup } : {});
  await model.beforeTask(1);
  const summary = await new Trainer(model, task(1)).fit(DDP_TASK2, { ...fit, onProgress });
  // the end of task 1 too: CIA swaps its EMA of the task's steps into the parameters here
  await model.afterTask(1, DDP_TASK2, fit.processGroup ? { processGroup: fit.processGroup } : {});
  return { losses, summary };
}
