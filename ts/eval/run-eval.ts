/**
 * Evaluation of one model on test sets, outside a stream: either a local model (with an optional
 * adapter), generating in batches through ts/stream/evaluate.ts, or any OpenAI-compatible
 * endpoint, asked one test conversation per request (greedy) with bounded concurrency. Both
 * take the same prompts (every message before the last assistant one) and score with the same
 * scorers, so a model served by `continual-next serve` scores what it scores locally.
 */
import path from 'node:path';

import { loadDataset } from '../data/load';
import { splitForEval } from '../data/split';
import { ConfigError, DatasetError } from '../errors';
import type { DType } from '../native/bindings';
import { scorerFromSpec, type ScorerSpec } from '../scorers';
import type { StreamConfig } from '../stream/config';
import { evaluateTasks, scoreTasks, type TaskEvaluation, type TestItem } from '../stream/evaluate';
import { ChatEndpoint } from './chat-endpoint';

export interface EvalTestSet {
  /** Task name in the report (default: the file as given). */
  name?: string;
  /** A dataset reference: `path` or `path#N` (N seeded samples). */
  file: string;
}

export interface EvalOptions {
  tests: (EvalTestSet | string)[];
  /** Scorer names (default ['contains']); the first is the primary one. */
  scorers?: ScorerSpec[];
  /** A local Hugging Face model directory ... */
  model?: string;
  adapter?: string;
  chatTemplate?: string;
  device?: string;
  dtype?: DType;
  /** Prompts per generation batch for a local model (default 32). */
  batchSize?: number;
  /** ... or an OpenAI-compatible server's base URL (requests go to <endpoint>/v1/chat/completions). */
  endpoint?: string;
  /** Model id sent to the endpoint (default: the first one it lists). */
  endpointModel?: string;
  apiKey?: string;
  /** Requests in flight at once against an endpoint (default 4). */
  concurrency?: number;
  /** Per-request timeout against an endpoint, ms (default 120 000). */
  timeoutMs?: number;
  /** New tokens per answer (default 32, the stream default). */
  maxNewTokens?: number;
  stop?: string[];
  /** Seed for `#N` sampling of test files (default 42). */
  seed?: number;
  signal?: AbortSignal;
  /** Called as answers arrive: done of total. */
  onProgress?: (done: number, total: number) => void;
}

export interface EvalTaskResult extends TaskEvaluation {
  file: string;
}

export interface EvalReport {
  /** What was evaluated: the model (and adapter) directories, or the endpoint and its model id. */
  source: { model?: string; adapter?: string; endpoint?: string; endpointModel?: string };
  scorers: string[];
  maxNewTokens: number;
  tasks: EvalTaskResult[];
  seconds: number;
}

type LoadedTask = { name: string; file: string; items: TestItem[] };

/** Reads every test set and splits each conversation into prompt and reference (all validated first). */
export async function loadTestSets(tests: (EvalTestSet | string)[], seed = 42): Promise<LoadedTask[]> {
  if (!Array.isArray(tests) || tests.length === 0) throw new ConfigError('give at least one test set', { field: 'tests' });
  const names = new Set<string>();
  const out: LoadedTask[] = [];
  for (const t of tests) {
    const set = typeof t === 'string' ? { file: t } : t;
    const name = set.name ?? set.file;
    if (names.has(name)) throw new ConfigError(`the test set "${name}" is given twice`, { field: 'tests' });
    names.add(name);
    const file = set.file.replace(/#\d+$/, '');
    const conversations = await loadDataset(set.file, { seed });
    const items = conversations.map((c, i) => {
      try {
        const e = splitForEval(c);
        return { prompt: e.prompt, reference: e.reference };
      } catch (err) {
        throw new DatasetError(`${file}: item ${i + 1}: ${(err as Error).message}`, { file, line: i + 1, field: 'messages' });
      }
    });
    out.push({ name, file, items });
  }
  return out;
}

/** The options `eval <config>` uses: the config's model, tasks' test sets, scorers and generation settings. */
export function evalOptionsFromConfig(config: StreamConfig): EvalOptions {
  return {
    tests: config.tasks.map((t) => ({ name: t.name, file: t.test })),
    scorers: config.scorers,
    model: config.model,
    ...(config.chatTemplate ? { chatTemplate: config.chatTemplate } : {}),
    device: config.device,
    dtype: config.dtype,
    batchSize: config.generation.batchSize,
    maxNewTokens: config.generation.maxNewTokens,
    stop: config.generation.stop,
    seed: config.training.seed,
  };
}

function positive(value: number | undefined, field: string, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${field} must be a positive integer; got ${String(v)}`, { field });
  return v;
}

/** Answers with an endpoint, `concurrency` requests at a time; the first failure stops the rest. */
async function endpointAnswers(endpoint: ChatEndpoint, tasks: LoadedTask[], options: EvalOptions, maxNewTokens: number): Promise<string[][]> {
  const flat = tasks.flatMap((t, ti) => t.items.map((item, ii) => ({ ti, ii, item, file: t.file })));
  const answers = tasks.map((t) => new Array<string>(t.items.length));
  const stopAll = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stopAll.signal]) : stopAll.signal;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < flat.length && !signal.aborted) {
      const f = flat[next++];
      try {
        const text = await endpoint.chat(f.item.prompt, { maxTokens: maxNewTokens, temperature: 0, stop: options.stop ?? [], signal, where: { file: f.file, line: f.ii + 1 } });
        answers[f.ti][f.ii] = text.trim(); // as evaluateTasks trims local answers
      } catch (e) {
        stopAll.abort();
        throw e;
      }
      options.onProgress?.(++done, flat.length);
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(positive(options.concurrency, 'concurrency', 4), flat.length) }, worker));
  // report the first real failure, not the aborts it caused in the other workers
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length) throw failures.find((e) => !/: aborted/.test(e.message)) ?? failures[0];
  return answers;
}

/** Evaluates a local model or an endpoint on the test sets; resolves to per-task scores and samples. */
export async function runEval(options: EvalOptions): Promise<EvalReport> {
  const started = Date.now();
  if (!!options.model === !!options.endpoint) throw new ConfigError('give either a model directory or an endpoint URL (exactly one)', { field: options.model ? 'endpoint' : 'model' });
  if (options.endpoint && options.adapter) throw new ConfigError('--adapter applies to a local model; an endpoint serves its own', { field: 'adapter' });
  const scorers = (options.scorers?.length ? options.scorers : ['contains']).map(scorerFromSpec);
  const maxNewTokens = positive(options.maxNewTokens, 'maxNewTokens', 32);
  const tasks = await loadTestSets(options.tests, options.seed ?? 42);
  let evaluations: TaskEvaluation[];
  let source: EvalReport['source'];
  if (options.endpoint) {
    const endpoint = new ChatEndpoint(options.endpoint, {
      ...(options.endpointModel ? { model: options.endpointModel } : {}),
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    const answers = await endpointAnswers(endpoint, tasks, options, maxNewTokens);
    evaluations = await scoreTasks(tasks, answers, scorers);
    source = { endpoint: endpoint.baseUrl, endpointModel: await endpoint.model() };
  } else {
    const { Model } = await import('../model/model.js');
    const { Tokenizer } = await import('../tokenizer/tokenizer.js');
    const modelDir = path.resolve(options.model!);
    const tokenizer = await Tokenizer.fromDir(modelDir, options.chatTemplate ? { chatTemplate: options.chatTemplate } : {});
    await using model = await Model.load(modelDir, { device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' });
    if (options.adapter) await model.loadAdapter(options.adapter);
    const total = tasks.reduce((a, t) => a + t.items.length, 0);
    evaluations = await evaluateTasks(model, tokenizer, tasks, scorers, {
      maxNewTokens,
      batchSize: positive(options.batchSize, 'batchSize', 32),
      stop: options.stop ?? [],
      ...(options.signal ? { signal: options.signal } : {}),
      onBatch: (done) => options.onProgress?.(done, total),
    });
    source = { model: modelDir, ...(options.adapter ? { adapter: path.resolve(options.adapter) } : {}) };
  }
  return {
    source,
    scorers: scorers.map((s) => s.name),
    maxNewTokens,
    tasks: evaluations.map((e, i) => ({ ...e, file: tasks[i].file })),
    seconds: (Date.now() - started) / 1000,
  };
}
