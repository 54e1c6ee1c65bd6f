/** What a method's figures show: its accuracy matrix, averaged cell by cell over its seeds. */
import type { MethodResult } from '../stream/runner';

export function meanMatrix(method: Pick<MethodResult, 'seeds'>): number[][] {
  const seeds = method.seeds;
  const rows = seeds[0]?.matrix.length ?? 0;
  const cols = seeds[0]?.matrix[0]?.length ?? 0;
  return Array.from({ length: rows }, (_, j) =>
    Array.from({ length: cols }, (_, i) => seeds.reduce((a, s) => a + s.matrix[j][i], 0) / seeds.length),
  );
}

/** Label of row j of the accuracy matrix: the base model, then the model after each task. */
export const rowLabel = (tasks: readonly string[], j: number) => (j === 0 ? 'base' : `after ${tasks[j - 1]}`);
