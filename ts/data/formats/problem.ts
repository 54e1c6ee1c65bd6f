/**
 * What is wrong with one record, before the loader adds where the record is (file and line).
 * Format converters throw RecordProblem; loadDataset turns it into a DatasetError.
 */
import type { z } from 'zod';

export class RecordProblem extends Error {
  constructor(
    /** The field at fault, written as a path: `messages[2].role`, `history[0][1]`; undefined for the whole record. */
    readonly field: string | undefined,
    /** What is wrong, without the location: `must be a string (got number)`. */
    readonly problem: string,
  ) {
    super(field === undefined ? `record ${problem}` : `field "${field}" ${problem}`);
  }
}

/** ['messages', 2, 'role'] → `messages[2].role`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** A value's kind, for messages: `number`, `null`, `array`, `object`, ... */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function article(kind: string): string {
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** Parses `input` with `schema`; the first issue becomes a RecordProblem with our own wording. */
export function parseRecord<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const field = path.length > 0 ? fieldPath(path) : undefined;
  const value = valueAt(input, path);
  let problem: string;
  switch (issue.code) {
    case 'invalid_type':
      problem =
        value === undefined && path.length > 0
          ? `is missing (it must be ${article(issue.expected)})`
          : `must be ${article(issue.expected)} (got ${kindOf(value)})`;
      break;
    case 'invalid_value':
      problem = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(value) ?? 'nothing'})`;
      break;
    case 'too_small':
      problem = issue.origin === 'array' ? `must have at least ${String(issue.minimum)} item(s) (has ${kindOf(value) === 'array' ? (value as unknown[]).length : 0})` : issue.message;
      break;
    case 'too_big':
      problem = issue.origin === 'array' ? `must have at most ${String(issue.maximum)} item(s) (has ${(value as unknown[]).length})` : issue.message;
      break;
    default:
      problem = issue.message;
  }
  throw new RecordProblem(field, problem);
}
