/**
 * Continual-learning metrics from the accuracy matrix A (see matrix.ts). Tasks are numbered
 * 1..T as in the literature; A[j][i] below means row j, task i (array column i-1).
 *
 *   Avg.ACC    = mean_i A[T][i]                                   (i in 1..T)
 *   Forgetting = mean_i ( max_{j in i..T-1} A[j][i] − A[T][i] )    (i in 1..T-1; positive = forgot)
 *   New.ACC    = mean_i A[i][i]                                   (i in 1..T)
 *   BWT        = mean_i ( A[T][i] − A[i][i] )                     (i in 1..T-1; negative = forgot)
 *   FWT        = mean_i ( A[i-1][i] − A[0][i] )                   (i in 2..T)
 *   Avg.Inc    = mean_t ( mean_{i ≤ t} A[t][i] )                  (t in 1..T)
 *
 * With T = 1 Forgetting, BWT and FWT average over no tasks: they are null (not NaN).
 */
import { type AccuracyMatrix, validateAccuracyMatrix } from './matrix';

export interface ContinualMetrics {
  avgAcc: number;
  forgetting: number | null;
  newAcc: number;
  bwt: number | null;
  fwt: number | null;
  avgInc: number;
}

export const METRIC_NAMES: readonly (keyof ContinualMetrics)[] = ['avgAcc', 'forgetting', 'newAcc', 'bwt', 'fwt', 'avgInc'];

/** Display names, as in the tables. */
export const METRIC_LABELS: Record<keyof ContinualMetrics, string> = {
  avgAcc: 'Avg.ACC',
  forgetting: 'Forgetting',
  newAcc: 'New.ACC',
  bwt: 'BWT',
  fwt: 'FWT',
  avgInc: 'Avg.Inc',
};

/** Mean of f(i) for i in from..to (inclusive); null when the range is empty. */
function meanOver(from: number, to: number, f: (i: number) => number): number | null {
  if (to < from) return null;
  let sum = 0;
  for (let i = from; i <= to; i++) sum += f(i);
  return sum / (to - from + 1);
}

/** A[j][i] with 1-based task i. */
const at = (a: AccuracyMatrix, j: number, i: number) => a[j][i - 1];

export function avgAcc(a: AccuracyMatrix): number {
  const t = validateAccuracyMatrix(a);
  return meanOver(1, t, (i) => at(a, t, i))!;
}

export function forgetting(a: AccuracyMatrix): number | null {
  const t = validateAccuracyMatrix(a);
  return meanOver(1, t - 1, (i) => {
    let best = -Infinity;
    for (let j = i; j <= t - 1; j++) best = Math.max(best, at(a, j, i));
    return best - at(a, t, i);
  });
}

export function newAcc(a: AccuracyMatrix): number {
  const t = validateAccuracyMatrix(a);
  return meanOver(1, t, (i) => at(a, i, i))!;
}

export function backwardTransfer(a: AccuracyMatrix): number | null {
  const t = validateAccuracyMatrix(a);
  return meanOver(1, t - 1, (i) => at(a, t, i) - at(a, i, i));
}

export function forwardTransfer(a: AccuracyMatrix): number | null {
  const t = validateAccuracyMatrix(a);
  return meanOver(2, t, (i) => at(a, i - 1, i) - at(a, 0, i));
}

export function averageIncrementalAccuracy(a: AccuracyMatrix): number {
  const t = validateAccuracyMatrix(a);
  return meanOver(1, t, (row) => meanOver(1, row, (i) => at(a, row, i))!)!;
}

/** Every metric of one run. */
export function continualMetrics(a: AccuracyMatrix): ContinualMetrics {
  validateAccuracyMatrix(a);
  return {
    avgAcc: avgAcc(a),
    forgetting: forgetting(a),
    newAcc: newAcc(a),
    bwt: backwardTransfer(a),
    fwt: forwardTransfer(a),
    avgInc: averageIncrementalAccuracy(a),
  };
}
