/**
 * Reads a run's results.json back for `continual-next report`: a missing or unreadable file, bad
 * JSON, or a document that does not have the shape the reports need is an IoError naming the file
 * (and the field at fault). Only what the reports use is checked; other fields pass through.
 */
import fs from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { IoError } from '../errors';
import { validateAccuracyMatrix } from '../metrics';
import type { StreamResults } from '../stream/runner';

const meanStd = z.object({ mean: z.number(), std: z.number(), n: z.number().int().positive() });
const metric = meanStd.nullable();
const scores = z.record(z.string(), z.number());

const sample = z.looseObject({ answer: z.string(), reference: z.string(), scores, tags: z.record(z.string(), z.unknown()).optional() });
const evaluation = z.looseObject({ task: z.string(), scores, samples: z.array(sample) });
const row = z.looseObject({ row: z.number().int().nonnegative(), evaluations: z.array(evaluation) });
const seed = z.looseObject({ seed: z.number(), matrix: z.array(z.array(z.number())), rows: z.array(row) });

const resultsSchema = z.looseObject({
  name: z.string(),
  tasks: z.array(z.string()).min(1),
  primaryScorer: z.string(),
  scorers: z.array(z.string()).min(1),
  methods: z
    .array(
      z.looseObject({
        method: z.string(),
        seeds: z.array(seed).min(1),
        summary: z.looseObject({ avgAcc: meanStd, forgetting: metric, newAcc: meanStd, bwt: metric, fwt: metric }),
        finalRow: z.array(z.number()),
      }),
    )
    .min(1),
  config: z.looseObject({ model: z.string(), seeds: z.array(z.number()).min(1), tuner: z.looseObject({ type: z.string() }) }),
  environment: z.record(z.string(), z.unknown()),
  wallSeconds: z.number(),
});

/** `dirOrFile` is a run directory (its results.json is read) or a results file. */
export function readResults(dirOrFile: string): StreamResults {
  const file = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory() ? path.join(dirOrFile, 'results.json') : dirOrFile;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (run `continual-next run` first)' : (e as Error).message;
    throw new IoError(`${file}: cannot read results: ${why}`, { file, cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new IoError(`${file}: not valid JSON (${(e as Error).message})`, { file, cause: e });
  }
  const parsed = resultsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.map(String).join('.') || '(top level)';
    throw new IoError(`${file}: field "${field}": ${issue.message}`, { file, field });
  }
  // the document as written (the schema only checks it), so nothing outside the schema is lost
  const r = raw as StreamResults;
  const T = r.tasks.length;
  r.methods.forEach((m, mi) =>
    m.seeds.forEach((s, si) => {
      const field = `methods.${mi}.seeds.${si}.matrix`;
      let tasks: number;
      try {
        tasks = validateAccuracyMatrix(s.matrix, field);
      } catch (e) {
        throw new IoError(`${file}: ${(e as Error).message}`, { file, field, cause: e });
      }
      if (tasks !== T) throw new IoError(`${file}: field "${field}" has ${tasks} task columns but "tasks" names ${T}`, { file, field });
    }),
  );
  return r;
}
