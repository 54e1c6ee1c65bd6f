/**
 * The typed surface of the native addon: every export of continual_next.node is declared here,
 * by hand, and nothing else in the package touches the addon untyped. ts/native/load.ts is the
 * only place that loads it.
 */

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type NativeTypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

/** A libtorch tensor owned by native code (see Tensor in ts/tensor.ts). */
export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly disposed: boolean;
  /** Copies the contents out (float16/bfloat16 as raw bits in a Uint16Array). */
  toArray(): NativeTypedArray;
  /** Frees the tensor; idempotent. */
  dispose(): void;
}

export interface NativeTensorClass {
  fromArray(data: NativeTypedArray, shape: number[], dtype?: DType): NativeTensor;
  prototype: NativeTensor;
}

export interface NativeInfo {
  addonVersion: string;
  torch: {
    version: string;
    cxx11Abi: boolean;
    cudaAvailable: boolean;
    mkl: boolean;
    mkldnn: boolean;
    openmp: boolean;
    lapack: boolean;
    config: string;
    parallel: string;
  };
  devices: { type: 'cpu' | 'cuda'; name: string }[];
  threads: { intraOp: number; interOp: number; physicalCores: number };
  build: { napiVersion: number; cuda: boolean; gloo: boolean; compiler: string; cxxStandard: number };
}

export interface SpinProgress {
  elapsedMs: number;
  iterations: number;
}

export interface NativeDiagnostics {
  /** n×n matmuls on a worker thread for about `ms` milliseconds. */
  spin(ms: number, onProgress?: (p: SpinProgress) => void, n?: number): Promise<{ iterations: number; seconds: number; gflops: number }>;
  /** Throws a C++ exception of the given kind ('typed' | 'torch' | 'torch-shape' | 'alloc' | 'std' | other). */
  throwError(kind: string): never;
  throwErrorAsync(kind: string): Promise<never>;
}

export interface NativeBindings {
  registerErrorClasses(classes: Record<string, new (message: string) => Error>): void;
  info(): NativeInfo;
  setThreads(n: number): void;
  diagnostics: NativeDiagnostics;
  Tensor: NativeTensorClass;
}

/** The preload helper: loads a shared library globally (RTLD_GLOBAL) and keeps it loaded. */
export interface NativePreload {
  loadGlobal(path: string): boolean;
}
