/**
 * The accuracy matrix of a task stream: T+1 rows, T columns. Row 0 is the base model before any
 * training; row j (1..T) is the model after training on task j; column i-1 holds task i's test
 * score. Scores are usually in [0, 1]; every metric is linear in them, so scaled scores (×100)
 * give scaled metrics.
 */
import { InvalidArgumentError } from '../errors';

export type AccuracyMatrix = readonly (readonly number[])[];

/** Checks the shape and values; returns T, the number of tasks. */
export function validateAccuracyMatrix(a: AccuracyMatrix, name = 'accuracy matrix'): number {
  if (!Array.isArray(a) || a.length < 2) {
    throw new InvalidArgumentError(`${name} must have T+1 rows (row 0: the base model, then one per task) with T ≥ 1; got ${Array.isArray(a) ? a.length : typeof a} row(s)`);
  }
  const tasks = a.length - 1;
  a.forEach((row, j) => {
    if (!Array.isArray(row) || row.length !== tasks) {
      throw new InvalidArgumentError(
        `${name} row ${j} must have ${tasks} entries (one per task, as there are ${tasks + 1} rows); got ${Array.isArray(row) ? row.length : typeof row}`,
      );
    }
    row.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new InvalidArgumentError(`${name}[${j}][${i}] must be a finite number; got ${String(v)}`);
      }
    });
  });
  return tasks;
}
