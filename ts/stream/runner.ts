/**
 * The benchmark's main job: for each method and seed, evaluate the base model (row 0), then for
 * each task in order continue training the same adapter, save it, and evaluate every task's test
 * set (row t). The base model is loaded once and reused; row 0 is computed once (greedy decoding
 * of the base model does not depend on the method or seed).
 *
 * Resumable: each (method, seed) keeps its finished rows in progress.json and its adapters per
 * task; training inside a task checkpoints its trainer state. A rerun after a crash or kill
 * continues where it stopped and gives the same matrix.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Conversation } from '../data/conversation';
import { info } from '../info';
import { loadDataset } from '../data/load';
import { splitForEval } from '../data/split';
import { summarizeRuns, type AggregatedMetrics, type ContinualMetrics } from '../metrics';
import { Model, writeFileAtomic } from '../model/model';
import { scorerFromSpec } from '../scorers';
import { Tokenizer } from '../tokenizer/tokenizer';
import { Trainer } from '../train/trainer';
import type { TrainProgress } from '../native/bindings';
import type { ProcessGroup } from '../distributed/process-group';
import { isNativeMethod } from '../methods/options';
import { rowLabel, type MethodConfig, type StreamConfig, type TunerConfig } from './config';
import { evaluateTasks, type TaskEvaluation, type TestItem } from './evaluate';
import { replayIndices } from './replay';

export type StreamEvent =
  | { type: 'stage'; method: string; seed: number; stage: string; task?: string; row?: number }
  | { type: 'train'; method: string; seed: number; task: string; progress: TrainProgress }
  | { type: 'eval'; method: string; seed: number; row: number; done: number; total: number }
  | { type: 'row'; method: string; seed: number; row: number; scores: number[] }
  | { type: 'resume'; method: string; seed: number; fromRow: number };

export interface RunOptions {
  onEvent?: (e: StreamEvent) => void;
  signal?: AbortSignal;
  /**
   * Data-parallel training over this group (docs/distributed.md): every rank runs the same config;
   * training and evaluation are sharded (generation batches over the ranks, answers gathered),
   * and only rank 0 writes files.
   */
  processGroup?: ProcessGroup;
}

export interface MethodSeedResult {
  seed: number;
  /** Task names in the order they were trained (the config's order unless `orders` is set). */
  order: string[];
  /**
   * (T+1) × T accuracy matrix of the primary scorer, in [0, 1]: row k is the model after the k-th
   * training stage, columns are the tasks in the config's order. Metrics use it with its columns
   * put in training order.
   */
  matrix: number[][];
  /** Per scorer name. */
  matrices: Record<string, number[][]>;
  metrics: ContinualMetrics;
  rows: { row: number; evaluations: TaskEvaluation[]; trainSeconds?: number; evalSeconds: number; trainTokensPerSecond?: number }[];
}

export interface MethodResult {
  /** The row's label (docs: rowLabel). */
  method: string;
  config: MethodConfig;
  tuner: TunerConfig;
  seeds: MethodSeedResult[];
  summary: AggregatedMetrics;
  /** Mean over seeds of the final row, per task. */
  finalRow: number[];
}

export interface StreamResults {
  name: string;
  tasks: string[];
  primaryScorer: string;
  scorers: string[];
  methods: MethodResult[];
  config: StreamConfig;
  environment: Record<string, unknown>;
  wallSeconds: number;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'x';

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The tuner options of one run: its own initialisation per seed (every tuner but full fine-tuning has a seed). */
function tunerForSeed(tuner: TunerConfig, seed: number): TunerConfig {
  return 'seed' in tuner && typeof tuner.seed === 'number' ? { ...tuner, seed: tuner.seed + seed } : tuner;
}

/** The matrix with its columns in training order (what the metrics' formulas index). */
function inTrainingOrder(matrix: number[][], order: number[]): number[][] {
  return matrix.map((row) => order.map((i) => row[i]));
}

interface SeedProgress {
  rows: MethodSeedResult['rows'];
}

export async function runStream(config: StreamConfig, options: RunOptions = {}): Promise<StreamResults> {
  const started = Date.now();
  const emit = options.onEvent ?? (() => undefined);
  // Under data parallelism rank 0 alone writes; the others read what it wrote when resuming.
  const writer = !options.processGroup || options.processGroup.rank === 0;
  fs.mkdirSync(config.output, { recursive: true });
  const scorers = config.scorers.map(scorerFromSpec);
  const primary = scorers[0].name;

  // Data: every task's train conversations and test items, loaded and validated up front.
  const train: Conversation[][] = [];
  const tests: { name: string; items: TestItem[] }[] = [];
  for (const t of config.tasks) {
    train.push(await loadDataset(t.train, { seed: config.training.seed }));
    const convs = await loadDataset(t.test, { seed: config.training.seed });
    tests.push({ name: t.name, items: convs.map((c) => { const e = splitForEval(c); return { prompt: e.prompt, reference: e.reference, ...(c.tags ? { tags: c.tags } : {}) }; }) });
  }

  const tokenizer = await Tokenizer.fromDir(config.model, config.chatTemplate ? { chatTemplate: config.chatTemplate } : {});
  // Data parallel on CUDA: each rank's model on its own device, the NCCL group's (cuda:LOCAL_RANK for 'cuda').
  const pg = options.processGroup;
  const device = pg?.backend === 'nccl' && config.device === 'cuda' ? pg.device : config.device;
  await using model = await Model.load(config.model, { device, dtype: config.dtype });
  const evalOptions = (method: string, seed: number, row: number) => ({
    maxNewTokens: config.generation.maxNewTokens,
    batchSize: config.generation.batchSize,
    stop: config.generation.stop,
    signal: options.signal,
    onBatch: (done: number, total: number) => emit({ type: 'eval', method, seed, row, done, total }),
    ...(options.processGroup ? { processGroup: options.processGroup } : {}),
  });

  // Row 0, shared by every method and seed.
  const baseFile = path.join(config.output, 'base-eval.json');
  let base = readJson<{ evaluations: TaskEvaluation[]; evalSeconds: number }>(baseFile);
  if (!base) {
    emit({ type: 'stage', method: 'base', seed: 0, stage: 'evaluate base model', row: 0 });
    const t0 = Date.now();
    const evaluations = await evaluateTasks(model, tokenizer, tests, scorers, evalOptions('base', 0, 0));
    base = { evaluations, evalSeconds: (Date.now() - t0) / 1000 };
    if (writer) writeFileAtomic(baseFile, JSON.stringify(base));
  }

  // Task orders as index lists; one run per (method, order, seed).
  const taskIndex = new Map(config.tasks.map((t, i) => [t.name, i]));
  const orders = (config.orders ?? [config.tasks.map((t) => t.name)]).map((o) => o.map((n) => taskIndex.get(n)!));
  const runs = orders.flatMap((order, orderIndex) => config.seeds.map((seed) => ({ order, orderIndex, seed })));

  // Replay's buffer for a stage: the one saved with the task (replay-buffer.json, indices into each
  // past task's training samples) when there is one, else drawn (seeded) and saved first.
  const replayFor = (dir: string, past: number[], method: Extract<MethodConfig, { name: 'replay' }>, seed: number, save: boolean) => {
    const file = path.join(dir, 'replay-buffer.json');
    let saved = readJson<{ tasks: string[]; indices: number[][] }>(file);
    if (!saved || saved.tasks.join('\u0000') !== past.map((i) => config.tasks[i].name).join('\u0000')) {
      saved = { tasks: past.map((i) => config.tasks[i].name), indices: replayIndices(past.map((i) => train[i].length), method, seed) };
      if (save) {
        fs.mkdirSync(dir, { recursive: true });
        writeFileAtomic(file, JSON.stringify(saved));
      }
    }
    return saved.indices.flatMap((picked, t) => picked.map((i) => train[past[t]][i]));
  };

  const methods: MethodResult[] = [];
  const rows = (config.tuners ?? [config.tuner]).flatMap((tuner) => config.methods.map((method) => ({ tuner, method })));
  for (const { tuner, method } of rows) {
    const label = rowLabel(config, tuner, method);
    const seeds: MethodSeedResult[] = [];
    for (const { order, orderIndex, seed } of runs) {
      const dir = path.join(config.output, slug(label), orders.length > 1 ? `order-${orderIndex + 1}-seed-${seed}` : `seed-${seed}`);
      fs.mkdirSync(dir, { recursive: true });
      const progressFile = path.join(dir, 'progress.json');
      const progress: SeedProgress = readJson<SeedProgress>(progressFile) ?? { rows: [{ row: 0, evaluations: base.evaluations, evalSeconds: base.evalSeconds }] };
      // stage k trains task order[k]; matrix columns stay in the config's task order
      const taskDir = (k: number) => path.join(dir, `task-${k + 1}-${slug(config.tasks[order[k]].name)}`);
      const adapterDir = (k: number) => path.join(taskDir(k), 'adapter');
      const methodStateFile = (k: number) => path.join(taskDir(k), 'method-state.safetensors');
      if (model.tuner) model.removeAdapter();
      if (model.method) model.clearMethod();
      const done = progress.rows.length - 1; // tasks finished
      if (done > 0) emit({ type: 'resume', method: label, seed, fromRow: done });
      if (done > 0 && !(method.name === 'seqft' && method.fromBase)) {
        await model.loadAdapter(adapterDir(done - 1));
      } else {
        model.addAdapter(tunerForSeed(tuner, seed), { tokenizer });
      }
      const native = isNativeMethod(method);
      if (native) {
        // the run's seed moves the method's own sampling (Fisher samples, memories) too
        model.setMethod('seed' in method ? { ...method, seed: method.seed + seed } : method);
        if (done > 0) await model.loadMethodState(methodStateFile(done - 1));
      }
      for (let k = done; k < config.tasks.length; k++) {
        const task = config.tasks[order[k]];
        if (method.name === 'seqft' && method.fromBase && k > 0) {
          // the reference's behaviour: a fresh adapter on the base model for every task
          model.removeAdapter();
          model.addAdapter(tunerForSeed(tuner, seed), { tokenizer });
        }
        let data = train[order[k]];
        if (method.name === 'replay') data = [...data, ...replayFor(taskDir(k), order.slice(0, k), method, seed, writer)];
        emit({ type: 'stage', method: label, seed, stage: 'train', task: task.name, row: k + 1 });
        if (native) await model.beforeTask(k);
        const trainer = new Trainer(model, {
          ...config.training,
          seed: config.training.seed + seed,
          checkpointDir: path.join(taskDir(k), 'trainer'),
          checkpointEvery: config.training.checkpointEvery || 50,
          resume: true,
        });
        const summary = await trainer.fit(data, {
          tokenizer,
          signal: options.signal,
          onProgress: (p) => emit({ type: 'train', method: label, seed, task: task.name, progress: p }),
          ...(options.processGroup ? { processGroup: options.processGroup } : {}),
        });
        if (native) {
          emit({ type: 'stage', method: label, seed, stage: 'end of task', task: task.name, row: k + 1 });
          await model.afterTask(k, data, { tokenizer, maxLength: config.training.maxLength, ...(options.processGroup ? { processGroup: options.processGroup } : {}) });
        }
        if (writer) await model.saveAdapter(adapterDir(k));
        if (writer && native) await model.saveMethodState(methodStateFile(k));
        emit({ type: 'stage', method: label, seed, stage: 'evaluate', task: task.name, row: k + 1 });
        const t0 = Date.now();
        const evaluations = await evaluateTasks(model, tokenizer, tests, scorers, evalOptions(label, seed, k + 1));
        progress.rows.push({
          row: k + 1,
          evaluations,
          trainSeconds: summary.seconds,
          trainTokensPerSecond: summary.tokens / Math.max(1e-9, summary.seconds),
          evalSeconds: (Date.now() - t0) / 1000,
        });
        if (writer) writeFileAtomic(progressFile, JSON.stringify(progress));
        emit({ type: 'row', method: label, seed, row: k + 1, scores: evaluations.map((e) => e.scores[primary]) });
      }
      const matrices: Record<string, number[][]> = {};
      for (const s of scorers) matrices[s.name] = progress.rows.map((r) => r.evaluations.map((e) => e.scores[s.name]));
      const trainingOrder = inTrainingOrder(matrices[primary], order);
      seeds.push({ seed, order: order.map((i) => config.tasks[i].name), matrix: matrices[primary], matrices, metrics: summarizeRuns([trainingOrder]).runs[0], rows: progress.rows });
    }
    const { summary } = summarizeRuns(seeds.map((s) => inTrainingOrder(s.matrix, s.order.map((n) => taskIndex.get(n)!))));
    const T = config.tasks.length;
    const finalRow = Array.from({ length: T }, (_, i) => seeds.reduce((a, s) => a + s.matrix[T][i], 0) / seeds.length);
    methods.push({ method: label, config: method, tuner, seeds, summary, finalRow });
  }
  if (model.tuner) model.removeAdapter();
  if (model.method) model.clearMethod();

  const i = info();
  return {
    name: config.name,
    tasks: config.tasks.map((t) => t.name),
    primaryScorer: primary,
    scorers: scorers.map((s) => s.name),
    methods,
    config,
    environment: {
      package: i.packageVersion,
      node: i.node,
      torch: i.torch.version,
      device: config.device,
      threads: i.threads.intraOp,
      platform: `${process.platform}-${process.arch}`,
      date: new Date().toISOString(),
    },
    wallSeconds: (Date.now() - started) / 1000,
  };
}
