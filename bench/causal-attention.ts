/**
 * bench/causal-attention: one layer's causal self-attention over whole sequences (a training
 * step's, LwF's teacher's, a prefill of equal-length prompts), our CPU kernel (native/kernels/causal_attention_cpu.cc)
 * against ATen's scaled_dot_product_attention (its CPU flash kernel: what HF's sdpa attention
 * runs), same process, same threads. Forward alone (teacher, prefill) and forward + backward
 * (training; the backward is ATen's flash backward on both sides).
 *
 *   npx tsx bench/causal-attention.ts [--threads 2] [--rounds 5] [--calls 20]
 *
 * The two sides alternate per round (this VM's speed drifts); each figure is the median call of
 * a round, JS call overhead (~0.05 ms) included; the ratio is the median of the rounds' ratios.
 */
import { loadNative } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { SHAPES, arg, median, randomTensor, rng } from './ours/shapes';

const native = loadNative();
const threads = Number(arg('threads', '2'));
if (threads > 0) native.setThreads(threads);
const rounds = Number(arg('rounds', '5'));
const calls = Number(arg('calls', '20'));


async function medianMs(impl: 'cpu' | 'reference', qkv: NativeTensor[], grad: NativeTensor | undefined): Promise<number> {
  const times: number[] = [];
  for (let c = 0; c < calls; ++c) {
    const t0 = performance.now();
    const r = await native.kernels.causalAttention(qkv[0], qkv[1], qkv[2], { impl, gradOutput: grad });
    times.push(performance.now() - t0);
    r.output.dispose();
    for (const g of Object.values(r.grads)) g.dispose();
  }
  return median(times);
}

async function main() {
  const rand = rng(11);
  const info = native.info();
  console.log(`causal-attention: ${info.threads.intraOp} threads, torch ${info.torch.version}; ms per call (median), ours vs SDPA`);
  const cases: Array<[string, number, number, number, number, number]> = [];
  for (const [name, { spec, batch, seq }] of Object.entries(SHAPES)) {
    const D = spec.hiddenSize / spec.numHeads;
    cases.push([`${name} train (${batch} × ${seq})`, batch, spec.numHeads, spec.numKvHeads, seq, D]);
  }
  cases.push(['qwen0.5b 16 prompts × 64', 16, 14, 2, 64, 64]);
  for (const [name, B, Hq, Hkv, S, D] of cases) {
    const qkv = [randomTensor(native, [B, Hq, S, D], rand, 1), randomTensor(native, [B, Hkv, S, D], rand, 1), randomTensor(native, [B, Hkv, S, D], rand, 1)];
    const grad = randomTensor(native, [B, Hq, S, D], rand, 1);
    for (const [label, g] of [['forward', undefined], ['fwd + bwd', grad]] as const) {
      const ours: number[] = [], ref: number[] = [];
      for (let r = 0; r < rounds; ++r) {
        ours.push(await medianMs('cpu', qkv, g));
        ref.push(await medianMs('reference', qkv, g));
      }
      const ratio = median(ours.map((o, i) => ref[i] / o));
      // the causal half of q kᵀ and p v; a backward is counted as 2.5 forwards (dq, dk, dv, dp and the recomputed p)
      const flops = ((4 * B * Hq * D * S * (S + 1)) / 2) * (g ? 3.5 : 1);
      console.log(
        `  ${name.padEnd(28)} ${label.padEnd(9)} ours ${median(ours).toFixed(3).padStart(7)} ms (${(flops / median(ours) / 1e6).toFixed(0)} GFLOP/s)   SDPA ${median(ref).toFixed(3).padStart(7)} ms   ${ratio.toFixed(2)}×`,
      );
    }
    for (const t of [...qkv, grad]) t.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
