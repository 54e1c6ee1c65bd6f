/** loadDataset: a dataset reference (`path` or `path#N`) → validated conversations. */
import path from 'node:path';

import { DatasetError, InvalidArgumentError } from '../errors';
import type { Conversation } from './conversation';
import { rawToConversation } from './convert';
import { readRecords } from './read';
import { parseDatasetRef } from './reference';
import { sampleItems } from './sample';

/** ms-swift's default data seed. */
export const DEFAULT_DATA_SEED = 42;

export interface LoadDatasetOptions {
  /** Seed for `#N` sampling (default 42). The same seed and file give the same samples. */
  seed?: number;
  /** Directory that relative paths are resolved against (default: the working directory). Messages show the path as written. */
  baseDir?: string;
}

/**
 * Reads a `.jsonl`, `.json` or `.csv` dataset; every record (formats may be mixed) becomes a
 * conversation ending with an assistant message. All records are validated before anything is
 * returned: the first bad one throws DatasetError naming the file, line (or record) and field.
 * A reference ending in `#N` returns N seeded samples (see sampleItems).
 */
export async function loadDataset(ref: string, options: LoadDatasetOptions = {}): Promise<Conversation[]> {
  const { path: file, sample } = parseDatasetRef(ref);
  const seed = options.seed ?? DEFAULT_DATA_SEED;
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`seed must be an integer, got ${String(seed)}`);
  const resolved = options.baseDir !== undefined ? path.resolve(options.baseDir, file) : file;
  const records = await readRecords(resolved, file);
  if (records.length === 0) throw new DatasetError(`${file}: the dataset has no records`, { file });
  const conversations = records.map(rawToConversation);
  return sample === undefined ? conversations : sampleItems(conversations, sample, seed);
}
