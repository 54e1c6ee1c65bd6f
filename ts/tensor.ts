/**
 * Tensor: a libtorch tensor held by the addon. A minimal bridge for tests and I/O: make one from
 * a TypedArray, read shape/dtype/device, copy back out, dispose. Not a tensor library.
 */
import type { DType, NativeTensor, NativeTypedArray } from './native/bindings';
import { loadNative } from './native/load';
import { NativeResource } from './native/resource';

export class Tensor extends NativeResource {
  /** @internal */
  readonly native: NativeTensor;

  /** @internal Wraps a tensor the addon returned. */
  constructor(native: NativeTensor) {
    super();
    this.native = native;
    this.track(() => native.dispose());
  }

  /** Copies `data` into a new CPU tensor of the given shape (dtype defaults from the array type). */
  static fromArray(data: NativeTypedArray, shape: number[], dtype?: DType): Tensor {
    return new Tensor(loadNative().Tensor.fromArray(data, shape, dtype));
  }

  get shape(): number[] {
    return this.native.shape;
  }
  get dtype(): DType {
    return this.native.dtype;
  }
  get device(): string {
    return this.native.device;
  }
  get numel(): number {
    return this.native.shape.reduce((a, b) => a * b, 1);
  }

  /** Copies the contents into a TypedArray (float16/bfloat16: raw bits in a Uint16Array). */
  toArray(): NativeTypedArray {
    return this.native.toArray();
  }

  protected release(): void {
    this.native.dispose();
  }
}
