/**
 * A small seeded PRNG (mulberry32: 32-bit state, period 2^32) for reproducible sampling and
 * shuffling in TypeScript. Not for cryptography. The same seed gives the same stream on every
 * platform, since it uses only 32-bit integer arithmetic.
 */
import { InvalidArgumentError } from '../errors';

export class Random {
  #state: number;

  /** `seed` is any safe integer; it is reduced to 32 bits. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`seed must be an integer, got ${String(seed)}`);
    this.#state = Number(BigInt.asUintN(32, BigInt(seed)));
  }

  /** Next uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), without modulo bias; n in 1..2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw new InvalidArgumentError(`int(n) needs an integer n in 1..2^32, got ${n}`);
    // Reject the top partial block so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}
