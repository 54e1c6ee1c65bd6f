/**
 * Runs jobs one at a time in arrival order. The model serves one generation call at a time, so
 * concurrent HTTP requests wait here instead of racing for it.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  /** Jobs queued or running. */
  get size(): number {
    return this.#waiting;
  }

  /** Resolves with `job`'s result once every earlier job has settled. */
  run<T>(job: () => Promise<T>): Promise<T> {
    this.#waiting++;
    const result = this.#tail.then(job);
    const settle = () => {
      this.#waiting--;
    };
    this.#tail = result.then(settle, settle);
    return result;
  }

  /** Resolves when every job queued so far has settled. */
  async drain(): Promise<void> {
    await this.#tail;
  }
}
