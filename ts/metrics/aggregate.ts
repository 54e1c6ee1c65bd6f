/**
 * Mean ± standard deviation over runs (seeds, task orders). The std is the sample standard
 * deviation (divisor n − 1); a single run has std 0.
 */
import { InvalidArgumentError } from '../errors';
import { type ContinualMetrics, continualMetrics, METRIC_NAMES } from './continual';
import { type AccuracyMatrix, validateAccuracyMatrix } from './matrix';

export interface MeanStd {
  mean: number;
  std: number;
  /** Number of runs. */
  n: number;
}

export function meanStd(values: readonly number[]): MeanStd {
  if (values.length === 0) throw new InvalidArgumentError('mean ± std needs at least one value');
  for (const v of values) if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidArgumentError(`mean ± std needs finite numbers; got ${String(v)}`);
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { mean, std: 0, n };
  const ss = values.reduce((s, v) => s + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

export type AggregatedMetrics = { [K in keyof ContinualMetrics]: null extends ContinualMetrics[K] ? MeanStd | null : MeanStd };

/** Mean ± std of each metric over runs; a metric that is null in every run (T = 1) stays null. */
export function aggregateMetrics(runs: readonly ContinualMetrics[]): AggregatedMetrics {
  if (runs.length === 0) throw new InvalidArgumentError('aggregating metrics needs at least one run');
  const out: Partial<Record<keyof ContinualMetrics, MeanStd | null>> = {};
  for (const name of METRIC_NAMES) {
    const values = runs.map((r) => r[name]);
    const present = values.filter((v): v is number => v !== null);
    if (present.length === 0) out[name] = null;
    else if (present.length !== values.length) {
      throw new InvalidArgumentError(`metric ${name} is defined for some runs and not others: the runs have different numbers of tasks`);
    } else out[name] = meanStd(present);
  }
  return out as AggregatedMetrics;
}

/** Metrics of each run's matrix, then mean ± std over runs. All matrices must have the same number of tasks. */
export function summarizeRuns(matrices: readonly AccuracyMatrix[]): { runs: ContinualMetrics[]; summary: AggregatedMetrics } {
  if (!Array.isArray(matrices) || matrices.length === 0) throw new InvalidArgumentError('summarizeRuns needs at least one accuracy matrix');
  const tasks = matrices.map((m, k) => validateAccuracyMatrix(m, `accuracy matrix of run ${k}`));
  if (tasks.some((t) => t !== tasks[0])) throw new InvalidArgumentError(`runs have different numbers of tasks: ${tasks.join(', ')}`);
  const runs = matrices.map(continualMetrics);
  return { runs, summary: aggregateMetrics(runs) };
}

/**
 * `73.68 ± 1.20` (scores ×100 by default, as in the tables); just `73.68` for a single run;
 * `–` for null.
 */
export function formatMeanStd(value: MeanStd | number | null, options: { scale?: number; digits?: number } = {}): string {
  const scale = options.scale ?? 100;
  const digits = options.digits ?? 2;
  // toFixed keeps the sign of tiny negatives ("-0.00"); drop it.
  const fixed = (v: number) => (v * scale).toFixed(digits).replace(/^-(0\.?0*)$/, '$1');
  if (value === null) return '–';
  if (typeof value === 'number') return fixed(value);
  return value.n > 1 ? `${fixed(value.mean)} ± ${fixed(value.std)}` : fixed(value.mean);
}
