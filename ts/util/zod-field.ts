/**
 * The field a failed zod validation is about, as our ConfigErrors name it: the first issue's path,
 * dotted and under an optional prefix ("tuner.r"), with unknown keys listed after it
 * ("method.bogus, extra").
 */
import type { ZodError } from 'zod';

export function firstIssue(error: ZodError, prefix?: string): { field: string; message: string } {
  const issue = error.issues[0];
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const parts = [...(prefix ? [prefix] : []), ...issue.path.map(String), ...(keys.length ? [keys.join(', ')] : [])];
  return { field: parts.join('.'), message: issue.message };
}
