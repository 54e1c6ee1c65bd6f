/**
 * What a method's figures show: its accuracy matrix, averaged cell by cell over its seeds, with
 * the columns in training order so that row j's diagonal is the task just trained. When every run
 * trained the tasks in the same order the columns are those tasks; runs of different task orders
 * are averaged by position ("1st trained", "2nd trained", ...).
 */
import type { MethodResult } from '../stream/runner';

export function meanMatrix(method: Pick<MethodResult, 'seeds'>, tasks: readonly string[]): { matrix: number[][]; tasks: string[] } {
  const seeds = method.seeds;
  const orders = seeds.map((s) => s.order ?? [...tasks]);
  const sameOrder = orders.every((o) => o.join('\u0000') === orders[0]?.join('\u0000'));
  const columns = seeds.map((s, k) => orders[k].map((name) => tasks.indexOf(name)));
  const rows = seeds[0]?.matrix.length ?? 0;
  const cols = seeds[0]?.matrix[0]?.length ?? 0;
  const matrix = Array.from({ length: rows }, (_, j) =>
    Array.from({ length: cols }, (_, i) => seeds.reduce((a, s, k) => a + s.matrix[j][columns[k][i]], 0) / seeds.length),
  );
  const ordinal = (n: number) => `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'} trained`;
  return { matrix, tasks: sameOrder && orders[0] ? [...orders[0]] : Array.from({ length: cols }, (_, i) => ordinal(i + 1)) };
}

/** Label of row j of the accuracy matrix: the base model, then the model after each task. */
export const rowLabel = (tasks: readonly string[], j: number) => (j === 0 ? 'base' : `after ${tasks[j - 1]}`);
