import type { NativeBindings, NativeTensor } from '../../ts/native/bindings';

/** The benchmark shapes, identical to bench/peer/_common.py's (Qwen2 architecture, random init). */
export const SHAPES = {
  tiny: {
    spec: { family: 'qwen2', vocabSize: 8192, hiddenSize: 256, numLayers: 4, numHeads: 8, numKvHeads: 2, intermediateSize: 704, rmsNormEps: 1e-6, ropeTheta: 10000, qkvBias: true, tieWordEmbeddings: true },
    batch: 8,
    seq: 128,
  },
  'qwen0.5b': {
    spec: { family: 'qwen2', vocabSize: 151936, hiddenSize: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, intermediateSize: 4864, rmsNormEps: 1e-6, ropeTheta: 1e6, qkvBias: true, tieWordEmbeddings: true },
    batch: 1,
    seq: 256,
  },
  // Qwen2-7B's dimensions (untied head), for the GPU runs: bf16 weights alone are 15 GB
  qwen7b: {
    spec: { family: 'qwen2', vocabSize: 152064, hiddenSize: 3584, numLayers: 28, numHeads: 28, numKvHeads: 4, intermediateSize: 18944, rmsNormEps: 1e-6, ropeTheta: 1e6, qkvBias: true, tieWordEmbeddings: false },
    batch: 1,
    seq: 2048,
  },
} as const;
export type ShapeName = keyof typeof SHAPES;

/** Peak resident memory of this process (VmHWM), in MB. */
export function peakRssMb(): number {
  const status = require('node:fs').readFileSync('/proc/self/status', 'utf8') as string;
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A seeded PRNG (mulberry32) for reproducible token ids. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float32 tensor of uniform values in [−half, half) drawn from `rand`. */
export function randomTensor(native: NativeBindings, shape: number[], rand: () => number, half: number): NativeTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = half * (2 * rand() - 1);
  return native.Tensor.fromArray(data, shape);
}

/** The median of xs (the upper one for an even count), as every bench script reports it. */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** The figures our bench scripts and the peers' take for a device run: cpu unless asked. */
export function deviceArgs(): { device: string; cuda: boolean; dtype: 'fp32' | 'bf16' } {
  const device = arg('device', 'cpu');
  const cuda = device.startsWith('cuda');
  const dtype = arg('dtype', cuda ? 'bf16' : 'fp32');
  if (dtype !== 'fp32' && dtype !== 'bf16') throw new Error(`--dtype ${dtype}: expected fp32 or bf16`);
  return { device, cuda, dtype };
}

/** Our engine's name for a bench dtype. */
export const ENGINE_DTYPE = { fp32: 'float32', bf16: 'bfloat16' } as const;

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
