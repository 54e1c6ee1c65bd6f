/** Dataset references: a file path, optionally ending in `#N` to take N samples (as ms-swift). */
import { InvalidArgumentError } from '../errors';

export interface DatasetRef {
  /** The file path, without the `#N` suffix. */
  path: string;
  /** How many samples to take; undefined for the whole file. */
  sample?: number;
}

/** `data/train.jsonl#500` → `{path: 'data/train.jsonl', sample: 500}`. A `#` not followed by digits to the end is part of the path. */
export function parseDatasetRef(ref: string): DatasetRef {
  if (typeof ref !== 'string' || ref.trim() === '') throw new InvalidArgumentError(`a dataset reference must be a non-empty string, got ${JSON.stringify(ref)}`);
  const m = /^(.*)#(\d+)$/s.exec(ref);
  if (!m) return { path: ref };
  const sample = Number(m[2]);
  if (m[1] === '') throw new InvalidArgumentError(`dataset reference ${JSON.stringify(ref)} has no path before "#"`);
  if (!Number.isSafeInteger(sample) || sample < 1) {
    throw new InvalidArgumentError(`dataset reference ${JSON.stringify(ref)}: the sample count after "#" must be a whole number ≥ 1`);
  }
  return { path: m[1], sample };
}
