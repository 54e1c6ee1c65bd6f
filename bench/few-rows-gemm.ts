/**
 * bench/few-rows-gemm: the decoding-sized products (16 rows of x against each weight of a shape's
 * layer and its LM head), our few-rows kernel (native/kernels/few_rows_gemm_cpu.cc) against
 * ATen's at::linear (MKL: what HF transformers runs), same process, same threads.
 *
 *   npx tsx bench/few-rows-gemm.ts [--shape tiny|qwen0.5b|all] [--threads 2] [--rows 16] [--rounds 3]
 *
 * Each weight is cycled through ≥ 256 MiB of copies, so it comes from memory as in a decoding
 * step over a whole model, not from the cache. The two sides alternate per round (this VM's speed
 * drifts); each figure is the median call of a round, JS call overhead (~0.05 ms) included.
 */
import { loadNative } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { SHAPES, arg, median, randomTensor, rng, type ShapeName } from './ours/shapes';

const native = loadNative();
const threads = Number(arg('threads', '2'));
if (threads > 0) native.setThreads(threads);
const rows = Number(arg('rows', '16'));
const rounds = Number(arg('rounds', '3'));
const shapes: ShapeName[] = arg('shape', 'all') === 'all' ? ['tiny', 'qwen0.5b'] : [arg('shape', 'all') as ShapeName];


const noBias = native.Tensor.fromArray(new Float32Array(0), [0]);

async function medianMs(impl: 'cpu' | 'reference', x: NativeTensor, weights: NativeTensor[], calls: number): Promise<number> {
  const times: number[] = [];
  for (let c = 0; c < calls; ++c) {
    const t0 = performance.now();
    await native.kernels.linear(x, weights[c % weights.length], noBias, { impl });
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function main() {
  const rand = rng(7);
  for (const shape of shapes) {
    const s = SHAPES[shape].spec;
    const kv = (s.hiddenSize / s.numHeads) * s.numKvHeads;
    const products: Array<[string, number, number]> = [
      ['q / o', s.hiddenSize, s.hiddenSize],
      ['k / v', s.hiddenSize, kv],
      ['gate / up', s.hiddenSize, s.intermediateSize],
      ['down', s.intermediateSize, s.hiddenSize],
      ['LM head', s.hiddenSize, s.vocabSize],
    ];
    const info = native.info();
    console.log(`few-rows-gemm ${shape}: ${rows} rows, ${info.threads.intraOp} threads, torch ${info.torch.version}`);
    for (const [name, k, n] of products) {
      const copies = Math.max(1, Math.ceil((256 * 2 ** 20) / (k * n * 4)));
      const x = randomTensor(native, [rows, k], rand, 0.5);
      const weights = Array.from({ length: copies }, () => randomTensor(native, [n, k], rand, 0.5));
      // at least 2 passes over the copies, at least 20 calls
      const calls = Math.max(20, 2 * weights.length);
      const flop = 2 * rows * k * n;
      const ours: number[] = [];
      const aten: number[] = [];
      for (let r = 0; r < rounds; ++r) {
        ours.push(await medianMs('cpu', x, weights, calls));
        aten.push(await medianMs('reference', x, weights, calls));
      }
      const gf = (ms: number) => (flop / ms / 1e6).toFixed(0);
      const ratios = ours.map((o, i) => (aten[i] / o).toFixed(2));
      console.log(
        `  ${name.padEnd(9)} [${rows}, ${k}] · [${k}, ${n}]: ours ${ours.map(gf).join(' / ')} GFLOP/s, at::linear ${aten.map(gf).join(' / ')} GFLOP/s, ratio ${ratios.join(' / ')}×`,
      );
      for (const w of weights) w.dispose();
      x.dispose();
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
