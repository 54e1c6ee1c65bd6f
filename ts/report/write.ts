/** Writes a run's outputs into its directory (atomically): results.json and results.md. */
import path from 'node:path';

import { writeFileAtomic } from '../model/model';
import type { StreamResults } from '../stream/runner';
import { resultsMarkdown } from './markdown';

export function writeResults(results: StreamResults, dir = results.config.output): { json: string; markdown: string } {
  const json = path.join(dir, 'results.json');
  const markdown = path.join(dir, 'results.md');
  writeFileAtomic(json, JSON.stringify(results, null, 1) + '\n');
  writeFileAtomic(markdown, resultsMarkdown(results) + '\n');
  return { json, markdown };
}
