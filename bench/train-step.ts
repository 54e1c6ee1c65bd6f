/**
 * bench/train-step: LoRA training step, ours vs HF transformers (sdpa) + PEFT, same torch,
 * threads and shapes, in one run. `--tuner moelora [--experts 4]` runs ours only (the peer has no
 * MoELoRA).
 *
 *   npx tsx bench/train-step.ts [--shape tiny|qwen0.5b|qwen7b|all] [--threads 2] [--steps 10] [--warmup 2]
 *       [--tuner lora|moelora] [--rank 8] [--device cpu|cuda] [--dtype fp32|bf16] [--seq N] [--batch N]
 *       [--peak-tflops T]
 *
 * On a GPU (`--device cuda`, bf16 unless --dtype says otherwise) it also prints each side's CUDA
 * allocator peak and MFU: model FLOPs (bench/ours/flops.ts) over the step time and the GPU's
 * dense bf16 peak (--peak-tflops, else the datasheet figure for the peer's GPU name). `all` is
 * tiny + qwen0.5b on CPU and qwen0.5b + qwen7b on a GPU.
 */
import path from 'node:path';

import { ROOT, fmt, memoryFigure, runJson } from './compare';
import { bf16PeakTflops, loraTrainFlops } from './ours/flops';
import { SHAPES, arg, deviceArgs, type ShapeName } from './ours/shapes';

const { device, cuda, dtype } = deviceArgs();
const shapes: ShapeName[] = arg('shape', 'tiny') === 'all' ? (cuda ? ['qwen0.5b', 'qwen7b'] : ['tiny', 'qwen0.5b']) : [arg('shape', 'tiny') as ShapeName];
const threads = arg('threads', '2');
const tuner = arg('tuner', 'lora');
const rank = arg('rank', '8');

for (const shape of shapes) {
  if (!(shape in SHAPES)) throw new Error(`--shape ${shape}: expected one of ${Object.keys(SHAPES).join(', ')} or all`);
  const steps = arg('steps', shape === 'tiny' || cuda ? '10' : '4');
  const warmup = arg('warmup', shape === 'tiny' || cuda ? '2' : '1');
  const batch = Number(arg('batch', '0')) || SHAPES[shape].batch;
  const seq = Number(arg('seq', '0')) || (cuda && shape === 'qwen0.5b' ? 2048 : SHAPES[shape].seq);
  const common = ['--shape', shape, '--threads', threads, '--steps', steps, '--warmup', warmup, '--rank', rank, '--device', device, '--dtype', dtype, '--seq', String(seq), '--batch', String(batch)];
  const ours = runJson({ name: 'ours', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'bench/ours/train-step.ts'), ...common, '--tuner', tuner, ...(tuner === 'moelora' ? ['--experts', arg('experts', '4')] : [])] });
  const peer = tuner === 'lora' ? runJson({ name: 'hf+peft', cmd: 'python3', args: [path.join(ROOT, 'bench/peer/hf_train_step.py'), ...common] }) : undefined;
  const where = cuda ? `${device} ${ours.gpu ?? ''}, ${dtype}` : `${threads} threads, ${dtype}`;
  console.log(`train-step ${shape} (${tuner} r=${rank}, batch ${batch} × seq ${seq}, ${where}, torch ${ours.torch})`);
  const peakTflops = Number(arg('peak-tflops', '0')) || bf16PeakTflops(String(ours.gpu ?? peer?.gpu ?? ''));
  const flops = loraTrainFlops(SHAPES[shape].spec, batch, seq, Number(rank), batch * (seq - seq / 2));
  const mfu = (side: Record<string, number | string>) => (cuda && peakTflops ? `  MFU ${fmt((100 * flops) / (Number(side.ms_per_step) / 1000) / (peakTflops * 1e12), 1)} %` : '');
  console.log(`  continual-next : ${fmt(ours.ms_per_step)} ms/step  ${fmt(ours.tokens_per_s, 0)} tokens/s  ${memoryFigure(ours, cuda)}${mfu(ours)}`);
  if (peer) {
    console.log(`  hf + peft      : ${fmt(peer.ms_per_step)} ms/step  ${fmt(peer.tokens_per_s, 0)} tokens/s  ${memoryFigure(peer, cuda)}${mfu(peer)}  (transformers ${peer.transformers}, peft ${peer.peft})`);
    const mem = cuda ? Number(ours.peak_cuda_mb) / Number(peer.peak_cuda_mb) : Number(ours.peak_rss_mb) / Number(peer.peak_rss_mb);
    console.log(`  ratio          : ${fmt(Number(ours.tokens_per_s) / Number(peer.tokens_per_s), 2)}× tokens/s, ${fmt(mem, 2)}× peak ${cuda ? 'CUDA memory' : 'RSS'}`);
  }
  if (cuda && peakTflops) console.log(`  (MFU: ${fmt(flops / 1e12, 2)} TFLOP of model work per step over a ${peakTflops} TFLOP/s bf16 peak)`);
  console.log(JSON.stringify({ bench: 'train-step', shape, ours, peer, model_tflop_per_step: flops / 1e12, peak_tflops: peakTflops ?? null }));
}
