/**
 * Evaluation of a model on every task's test set in one go: all prompts of all tasks are sorted by
 * length and generated in batches (greedy), then scored per sample. A cell of the accuracy
 * matrix is the mean score of its task's samples.
 */
import type { Message } from '../data/conversation';
import { generate, type GenerationCodec } from '../model/generate';
import type { Model } from '../model/model';
import { scoreAll, type Scorer } from '../scorers';
import type { ProcessGroup } from '../distributed/process-group';
import { Tensor } from '../tensor';

export interface TestItem {
  prompt: Message[];
  reference: string;
  /** Extra fields of the record (e.g. kind: unchanged | updated | new). */
  tags?: Record<string, unknown>;
}

export interface SampleResult {
  answer: string;
  reference: string;
  /** Score per scorer name. */
  scores: Record<string, number>;
  tags?: Record<string, unknown>;
}

export interface TaskEvaluation {
  task: string;
  /** Mean score per scorer name, in [0, 1]. */
  scores: Record<string, number>;
  samples: SampleResult[];
}

export interface EvaluateOptions {
  maxNewTokens: number;
  batchSize: number;
  stop: string[];
  signal?: AbortSignal;
  onBatch?: (done: number, total: number) => void;
  /**
   * Data parallel: generation batch b runs on rank b mod world and the answers are gathered, so
   * every rank returns the whole evaluation (the batches are those one process would run).
   */
  processGroup?: ProcessGroup;
}

/** Every rank's answers (index → text), merged; UTF-8 JSON through two all-gathers. */
async function gatherAnswers(pg: ProcessGroup, mine: Record<number, string>): Promise<Record<number, string>> {
  const bytes = Buffer.from(JSON.stringify(mine), 'utf8');
  const lengths = await pg.allGather(Tensor.fromArray(new BigInt64Array([BigInt(bytes.length)]), [1], 'int64'));
  const max = Math.max(1, ...lengths.map((t) => Number((t.toArray() as BigInt64Array)[0])));
  const padded = new Uint8Array(max);
  padded.set(bytes);
  const all = await pg.allGather(Tensor.fromArray(padded, [max], 'uint8'));
  const merged: Record<number, string> = {};
  all.forEach((t, r) => {
    const n = Number((lengths[r].toArray() as BigInt64Array)[0]);
    Object.assign(merged, JSON.parse(Buffer.from((t.toArray() as Uint8Array).subarray(0, n)).toString('utf8')));
  });
  for (const t of [...lengths, ...all]) void t.dispose();
  return merged;
}

export async function evaluateTasks(
  model: Model,
  codec: GenerationCodec,
  tasks: { name: string; items: TestItem[] }[],
  scorers: Scorer[],
  options: EvaluateOptions,
): Promise<TaskEvaluation[]> {
  const flat = tasks.flatMap((t, ti) => t.items.map((item, ii) => ({ ti, ii, item, ids: codec.encodeForGeneration(item.prompt) })));
  const order = flat.map((_, i) => i).sort((a, b) => flat[a].ids.length - flat[b].ids.length);
  const answers: string[] = new Array(flat.length);
  const pg = options.processGroup && options.processGroup.worldSize > 1 ? options.processGroup : undefined;
  for (let start = 0; start < order.length; start += options.batchSize) {
    if (pg && (start / options.batchSize) % pg.worldSize !== pg.rank) continue;
    const chunk = order.slice(start, start + options.batchSize);
    const out = await generate(
      model,
      codec,
      chunk.map((i) => flat[i].ids),
      { maxNewTokens: options.maxNewTokens, stop: options.stop, signal: options.signal },
    );
    chunk.forEach((i, k) => (answers[i] = out[k].text.trim()));
    options.onBatch?.(Math.min(start + options.batchSize, order.length), order.length);
  }
  if (pg) {
    const mine: Record<number, string> = {};
    answers.forEach((a, i) => (mine[i] = a));
    const merged = await gatherAnswers(pg, mine);
    for (const [i, a] of Object.entries(merged)) answers[Number(i)] = a;
  }
  const perTask = tasks.map(() => [] as string[]);
  flat.forEach((f, i) => (perTask[f.ti][f.ii] = answers[i]));
  return scoreTasks(tasks, perTask, scorers);
}

/** Scores answers (one list per task, in item order) against the items' references. */
export async function scoreTasks(tasks: { name: string; items: TestItem[] }[], answers: string[][], scorers: Scorer[]): Promise<TaskEvaluation[]> {
  const flat = tasks.flatMap((t, ti) => t.items.map((item, ii) => ({ ti, ii, item, answer: answers[ti][ii] })));
  const results: TaskEvaluation[] = tasks.map((t) => ({ task: t.name, scores: {}, samples: [] }));
  const perScorer: Record<string, number[]> = {};
  for (const scorer of scorers) {
    perScorer[scorer.name] = await scoreAll(scorer, flat.map((f) => f.answer), flat.map((f) => f.item.reference));
  }
  flat.forEach((f, i) => {
    const scores: Record<string, number> = {};
    for (const scorer of scorers) scores[scorer.name] = perScorer[scorer.name][i];
    results[f.ti].samples[f.ii] = { answer: f.answer, reference: f.item.reference, scores, ...(f.item.tags ? { tags: f.item.tags } : {}) };
  });
  for (const r of results) {
    for (const scorer of scorers) {
      const s = r.samples.map((x) => x.scores[scorer.name]);
      r.scores[scorer.name] = s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0;
    }
  }
  return results;
}
