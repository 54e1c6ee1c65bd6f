/** Parsing of numeric CLI flags into typed ConfigErrors that name the flag. */
import { ConfigError } from '../errors';

/** An integer flag ≥ `min` (default 1). */
export function positiveInt(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} must be an integer ≥ ${min}; got ${JSON.stringify(value)}`, { field: flag });
  return n;
}
