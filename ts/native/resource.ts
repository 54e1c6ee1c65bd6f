/**
 * Base of every TS object that owns native memory: explicit, idempotent dispose(),
 * `await using` support (Symbol.asyncDispose) and DisposedError on use after dispose.
 * A FinalizationRegistry is only a backstop for objects the user forgot to dispose.
 */
import { DisposedError } from '../errors';

const backstop = new FinalizationRegistry<() => void>((release) => {
  try {
    release();
  } catch {
    /* best effort */
  }
});

export abstract class NativeResource implements AsyncDisposable, Disposable {
  #disposed = false;
  #token = {};

  /** Registers the function that frees the native side, for the GC backstop. */
  protected track(release: () => void): void {
    backstop.register(this, release, this.#token);
  }

  /** Frees native memory now. */
  protected abstract release(): void | Promise<void>;

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Throws DisposedError once disposed; call at the top of every public method. */
  protected assertAlive(): void {
    if (this.#disposed) throw new DisposedError(`${this.constructor.name} was used after dispose()`);
  }

  /** Frees the object's native memory. Safe to call more than once. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    backstop.unregister(this.#token);
    await this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  [Symbol.dispose](): void {
    void this.dispose();
  }
}
