/**
 * Seeded sampling of N items, as ms-swift does for `dataset#N`: when N ≤ size, N distinct items
 * in random order (without replacement); when N > size, every item floor(N / size) times in file
 * order, then (N mod size) distinct items drawn at random — so items repeat only when N exceeds
 * the size, and as evenly as possible.
 */
import { InvalidArgumentError } from '../errors';
import { Random } from '../util/random';

export function sampleItems<T>(items: readonly T[], n: number, seed: number): T[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`sample count must be a whole number ≥ 0, got ${n}`);
  if (n > 0 && items.length === 0) throw new InvalidArgumentError(`cannot take ${n} samples from an empty set`);
  const out: T[] = [];
  const repeats = Math.floor(n / Math.max(items.length, 1));
  for (let r = 0; r < repeats; r++) out.push(...items);
  const remain = n - out.length;
  if (remain > 0) {
    const order = new Random(seed).permutation(items.length);
    for (let k = 0; k < remain; k++) out.push(items[order[k]]);
  }
  return out;
}
