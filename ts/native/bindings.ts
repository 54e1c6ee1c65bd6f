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
    /** Which library runs the engine's CPU float32 matrix products: "onednn" (default when libtorch has it and the CPU has AVX-512), "mixed" (AVX2-only CPUs: MKL, and oneDNN's inner product for the linear shapes it is faster at) or "aten" (MKL; CN_CPU_GEMM=mkl). */
    cpuGemm: 'onednn' | 'mixed' | 'aten';
    openmp: boolean;
    lapack: boolean;
    config: string;
    parallel: string;
  };
  devices: { type: 'cpu' | 'cuda'; name: string }[];
  threads: { intraOp: number; interOp: number; physicalCores: number };
  /** native/core/cpu_allocator.h: "caching" (default) or "system" (CN_CPU_ALLOCATOR=system); bytes held for reuse and the cap (CN_CPU_CACHE_MB). */
  cpuAllocator: { kind: 'caching' | 'system'; cachedBytes: number; limitBytes: number; hits: number; misses: number };
  build: { napiVersion: number; cuda: boolean; gloo: boolean; nccl: boolean; compiler: string; cxxStandard: number };
}

/** native/core/cuda_memory.cc: what torch.cuda.max_memory_allocated() and friends read, for one device. */
export interface NativeCudaMemory {
  device: string;
  name: string;
  totalBytes: number;
  multiprocessors: number;
  allocatedBytes: number;
  peakAllocatedBytes: number;
  reservedBytes: number;
  peakReservedBytes: number;
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

/** One tensor's entry in a safetensors header. */
export interface NativeSafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** [begin, end) byte offsets within the data section. */
  dataOffsets: [number, number];
}

export interface NativeSafetensorsHeader {
  /** Tensors in the order of their data in the file. */
  tensors: Record<string, NativeSafetensorsEntry>;
  metadata: Record<string, string>;
  headerSize: number;
  dataSize: number;
}

/** native/io/safetensors_binding.cc. Failures reject/throw SafetensorsError (bad file) or IoError. */
export interface NativeSafetensors {
  /** Maps the file and validates its header (synchronous; reads no tensor data). */
  readHeader(path: string): NativeSafetensorsHeader;
  /** Every tensor of the file (or only `names`), as fresh CPU tensors of the stored dtype. */
  load(path: string, names?: string[]): Promise<Record<string, NativeTensor>>;
  /** A .safetensors file, a model.safetensors.index.json, or a directory holding either. */
  loadCheckpoint(pathOrDir: string): Promise<Record<string, NativeTensor>>;
  /** Atomic write (temp file, fsync, rename), in the object's key order. */
  save(path: string, tensors: Record<string, NativeTensor>, metadata?: Record<string, string>): Promise<void>;
}

/** Which implementation of a fused op to run (native/kernels/kernels.h). */
export type KernelImpl = 'auto' | 'reference' | 'cuda' | 'cpu';

export interface KernelOptions {
  /**
   * 'auto' (default): the CUDA kernel for CUDA tensors it supports, the CPU kernel for float32 CPU
   * tensors, else the libtorch reference. 'cpu' / 'cuda': that kernel or an error saying why not.
   */
  impl?: KernelImpl;
  /** Moves the inputs there first ('cpu', 'cuda', 'cuda:N'). */
  device?: string;
  /** Casts the floating inputs to this dtype first. */
  dtype?: DType;
  /** When given, runs output.backward(gradOutput) and returns the inputs' gradients. */
  gradOutput?: NativeTensor;
}

/** Output and input gradients of a fused op, as float32 CPU tensors. */
export interface KernelResult<G extends string> {
  output: NativeTensor;
  /** Empty without gradOutput. */
  grads: Partial<Record<G, NativeTensor>>;
}

/** native/kernels/kernels_binding.cc: the fused ops, for tests and diagnostics. */
export interface NativeKernels {
  /** Whether this binary has the CUDA kernels compiled in (built against a CUDA libtorch). */
  readonly cudaBuilt: boolean;
  /** weight * (x.float() * rsqrt(mean(x.float()^2, -1) + eps)).to(x.dtype) */
  rmsNorm(x: NativeTensor, weight: NativeTensor, eps: number, options?: KernelOptions): Promise<KernelResult<'x' | 'weight'>>;
  /** silu(gate) * up */
  swiglu(gate: NativeTensor, up: NativeTensor, options?: KernelOptions): Promise<KernelResult<'gate' | 'up'>>;
  /**
   * x * cos + rotate_half(x) * sin; x [B, H, S, D], cos/sin broadcastable to x. layout 'bshd': x is
   * given as [B, S, H, D] and the op runs on the strided view x.transpose(1, 2) (as the decoder does).
   */
  rope(x: NativeTensor, cos: NativeTensor, sin: NativeTensor, options?: KernelOptions & { layout?: 'bhsd' | 'bshd' }): Promise<KernelResult<'x'>>;
  /** x Wᵀ + b through the engine's CPU GEMM (kernels/gemm.h) when 'auto'/'cpu'; a zero-length bias means none. */
  linear(x: NativeTensor, weight: NativeTensor, bias: NativeTensor, options?: KernelOptions): Promise<KernelResult<'x' | 'weight' | 'bias'>>;
  /** x Wᵀ + b + scaling · (x aᵀ) bᵀ, LoRA's fused projection. */
  /** `dropout` (with `seed`): hash dropout on the low-rank branch's input, recomputed in the backward (kernels/hash_dropout.h). */
  loraLinear(x: NativeTensor, weight: NativeTensor, bias: NativeTensor, a: NativeTensor, b: NativeTensor, scaling: number, options?: KernelOptions & { dropout?: number; seed?: number }): Promise<KernelResult<'x' | 'weight' | 'bias' | 'a' | 'b'>>;
  /** x · keep(seed, i) / (1 − p), keep a hash of (seed, flat index): the same mask on every device. */
  hashDropout(x: NativeTensor, seed: number, p: number, options?: KernelOptions): Promise<KernelResult<'x'>>;
  /** LwF's Σ_rows KL(softmax(teacher/T) ‖ softmax(student/T)), a 0-d tensor; student, teacher [N, V]. */
  distillKl(student: NativeTensor, teacher: NativeTensor, temperature: number, options?: KernelOptions): Promise<KernelResult<'student'>>;
  /** The causal-LM loss: Σ_rows cross-entropy of logits [N, V] at int64 targets [N] (−100: row left out), a 0-d tensor. */
  crossEntropy(logits: NativeTensor, targets: NativeTensor, options?: KernelOptions): Promise<KernelResult<'logits'>>;
  /**
   * One decoding step's attention, [B, 1, Hq·D]: q [B, Hq, 1, D] over the first prefix + keyValid.size(1)
   * keys of k, v [B, Hkv, capacity, D]; key t is visible when t < prefix, keyValid[b][t − prefix] or it
   * is the last one. Forward only ('cpu' the kernel, 'reference' SDPA with a mask).
   */
  /**
   * The LM head and the causal-LM loss by chunks of rows, never holding the [N, V] logits:
   * Σ_rows cross-entropy of h [N, K] · weightᵀ ([V, K]) at int64 targets [N] (−100: row left out), a
   * 0-d tensor. chunkRows: rows per chunk (default: ~32 MiB of float32 logits); 'reference' makes the
   * whole logits first.
   */
  linearCrossEntropy(h: NativeTensor, weight: NativeTensor, targets: NativeTensor, options?: KernelOptions & { chunkRows?: number }): Promise<KernelResult<'h' | 'weight'>>;
  /**
   * softmax(q kᵀ/√D, causal) v over whole sequences: q [B, Hq, S, D], k, v [B, Hkv, S, D] (Hq a multiple
   * of Hkv). Differentiable in q, k, v ('cpu' the kernel, 'reference' SDPA with is_causal). layout 'bshd':
   * all three are given as [B, S, H, D] and the op runs on their transposed views; the output is then [B, S, Hq, D].
   */
  causalAttention(q: NativeTensor, k: NativeTensor, v: NativeTensor, options?: KernelOptions & { layout?: 'bhsd' | 'bshd' }): Promise<KernelResult<'q' | 'k' | 'v'>>;
  decodeAttention(q: NativeTensor, k: NativeTensor, v: NativeTensor, keyValid: NativeTensor, prefix: number, options?: KernelOptions): Promise<KernelResult<never>>;
}

export interface NativeBindings {
  registerErrorClasses(classes: Record<string, new (message: string) => Error>): void;
  info(): NativeInfo;
  /** The CUDA caching allocator's counters for `device` (default "cuda"); `resetPeak` zeroes the peaks after reading. DeviceError without CUDA. */
  cudaMemory(device?: string, options?: { resetPeak?: boolean }): NativeCudaMemory;
  setThreads(n: number): void;
  diagnostics: NativeDiagnostics;
  safetensors: NativeSafetensors;
  Tensor: NativeTensorClass;
  Model: NativeModelClass;
  kernels: NativeKernels;
  methods: NativeMethods;
  Encoder: NativeEncoderClass;
  ProcessGroup: NativeProcessGroupClass;
}

/** native/bindings/process_group.cc: a c10d group (TCPStore + Gloo or NCCL). Failures reject with DistributedError. */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  /** The backend in use ('auto' resolved). */
  readonly backend: 'gloo' | 'nccl';
  /** Where the group's tensors live: 'cpu' (gloo) or this rank's 'cuda:N' (nccl). Results are there. */
  readonly device: string;
  readonly disposed: boolean;
  allReduce(tensor: NativeTensor, op?: 'sum' | 'avg'): Promise<NativeTensor>;
  broadcast(tensor: NativeTensor, root?: number): Promise<NativeTensor>;
  allGather(tensor: NativeTensor): Promise<NativeTensor[]>;
  barrier(): Promise<void>;
  waitSeconds(): number;
  dispose(): void;
}

export interface NativeProcessGroupClass {
  /** False when the addon was built without any backend (create() then rejects). */
  readonly built: boolean;
  /** The backends compiled in ('gloo': gloo's headers at build time; 'nccl': a CUDA libtorch and nccl.h). */
  readonly backends: ('gloo' | 'nccl')[];
  create(options: {
    rank: number;
    worldSize: number;
    masterAddr: string;
    masterPort: number;
    timeoutMs: number;
    backend: string;
    device?: string;
    localRank?: number;
  }): Promise<NativeProcessGroup>;
}

/** The CL methods' formulas on small tensors (native/bindings/method_math.cc), for math tests. */
export interface NativeMethods {
  names(): string[];
  gemProject(g: NativeTensor, G: NativeTensor, margin: number): NativeTensor;
  agemProject(g: NativeTensor, ref: NativeTensor): NativeTensor;
  lwfDistillation(student: NativeTensor, teacher: NativeTensor, temperature: number): { loss: number; grad: NativeTensor };
  ciaBeta(theta: NativeTensor, ema: NativeTensor, g: NativeTensor, gPrev: NativeTensor | null, c: number, beta0: number): number;
  solveBoundedQp(P: NativeTensor, q: NativeTensor, lower: number): NativeTensor;
}

/** The preload helper: loads a shared library globally (RTLD_GLOBAL) and keeps it loaded. */
export interface NativePreload {
  loadGlobal(path: string): boolean;
}

/** Progress of a training run, one event per optimizer step. */
export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface TrainSummary {
  steps: number;
  /** The optimizer step a resumed run continued from (0 when it started fresh). */
  resumedFromStep: number;
  tokens: number;
  seconds: number;
  finalLoss: number;
  meanLoss: number;
  /**
   * Gradient elements this rank held after each step's gradient reduction (the most over the
   * steps): every trainable element, or under data-parallel ZeRO-2 its owned shard's.
   */
  gradientElements: number;
  /** AdamW moment elements this rank keeps (2 per trainable element; its shard's under ZeRO-1/2). */
  optimizerElements: number;
}

/** Native training options (ts/train/options.ts documents and validates them). */
export interface NativeTrainOptions {
  epochs?: number;
  batchSize?: number;
  gradientAccumulation?: number;
  maxSteps?: number;
  learningRate?: number;
  lrScheduler?: 'constant' | 'linear' | 'cosine';
  warmupSteps?: number;
  warmupRatio?: number;
  adamBeta1?: number;
  adamBeta2?: number;
  adamEpsilon?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  seed?: number;
  groupByLength?: boolean;
  padTokenId?: number;
  gradientCheckpointing?: boolean;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  ddpBucketMb?: number;
  zeroStage?: 0 | 1 | 2;
}

export interface NativeGenerateOptions {
  maxNewTokens?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  eosTokenIds?: string[];
  padTokenId?: number;
  seed?: number;
}

export interface NativeExample {
  inputIds: number[] | Int32Array;
  labels: number[] | Int32Array;
}

/** A loaded decoder with its tuner (native/bindings/model.cc). */
export interface NativeModel {
  readonly disposed: boolean;
  addTuner(type: string, options: Record<string, unknown>): void;
  removeTuner(): void;
  tunerState(): Record<string, NativeTensor>;
  loadTunerState(state: Record<string, NativeTensor>, source?: string): void;
  forward(inputIds: NativeTensor, attentionMask?: NativeTensor): Promise<NativeTensor>;
  lossAndGradients(inputIds: NativeTensor, labels: NativeTensor, attentionMask?: NativeTensor, includeMethod?: boolean): Promise<{ loss: number; tokens: number; gradients: Record<string, NativeTensor> }>;
  train(examples: NativeExample[], options: NativeTrainOptions, onProgress?: (p: TrainProgress) => void, processGroup?: NativeProcessGroup): Promise<TrainSummary>;
  generate(prompts: number[][], options: NativeGenerateOptions, onStep?: (e: { step: number; tokens: string }) => void): Promise<number[][]>;
  merge(): boolean;
  unmerge(): boolean;
  cancel(): void;
  parameterCount(): { base: number; trainable: number };
  setMethod(name: string, options: Record<string, unknown>): void;
  clearMethod(): void;
  beforeTask(task: number): Promise<void>;
  afterTask(task: number, examples: NativeExample[], padTokenId: number, processGroup?: NativeProcessGroup): Promise<void>;
  methodState(): Record<string, NativeTensor>;
  loadMethodState(state: Record<string, NativeTensor>): void;
  dispose(): void;
}

export interface NativeModelClass {
  random(spec: object, options: { dtype?: DType; device?: string; seed?: number; std?: number }): Promise<NativeModel>;
  fromTensors(spec: object, tensors: Record<string, NativeTensor>, options: { dtype?: DType; device?: string; source?: string }): Promise<NativeModel>;
}

/** Architecture of a BERT-style encoder (native/encoders/encoder_spec.h); ts/encoder/encoder-config.ts reads it from config.json. */
export interface NativeEncoderSpec {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: string;
  padTokenId: number;
  /** RoBERTa / XLM-R: real tokens are numbered from this + 1. -1 for BERT (numbered from 0). */
  positionPaddingIdx: number;
}

/** Sentence embeddings, row-major: rows × dim. */
export interface NativeEmbeddings {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** A loaded sentence encoder (native/bindings/encoder.cc). */
export interface NativeEncoder {
  readonly disposed: boolean;
  /** Pads the rows, runs the encoder and pools on a worker thread. */
  encode(ids: number[][], options: { pooling: string[]; normalize: boolean }): Promise<NativeEmbeddings>;
  dispose(): void;
}

export interface NativeEncoderClass {
  fromTensors(spec: NativeEncoderSpec, tensors: Record<string, NativeTensor>, options: { source?: string; device?: string; dtype?: DType }): Promise<NativeEncoder>;
}
