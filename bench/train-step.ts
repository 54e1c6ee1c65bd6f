/**
 * bench/train-step: LoRA training step, ours vs HF transformers (sdpa) + PEFT, same torch,
 * threads and shapes, in one run. `--tuner moelora [--experts 4]` runs ours only (the peer has no
 * MoELoRA).
 *
 *   npx tsx bench/train-step.ts [--shape tiny|qwen0.5b|all] [--threads 2] [--steps 10] [--warmup 2] [--tuner lora|moelora]
 */
import path from 'node:path';

import { ROOT, fmt, runJson } from './compare';
import { arg } from './ours/shapes';

const shapes = arg('shape', 'tiny') === 'all' ? ['tiny', 'qwen0.5b'] : [arg('shape', 'tiny')];
const threads = arg('threads', '2');
const tuner = arg('tuner', 'lora');

for (const shape of shapes) {
  const steps = arg('steps', shape === 'tiny' ? '10' : '4');
  const warmup = arg('warmup', shape === 'tiny' ? '2' : '1');
  const common = ['--shape', shape, '--threads', threads, '--steps', steps, '--warmup', warmup];
  const ours = runJson({ name: 'ours', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'bench/ours/train-step.ts'), ...common, '--tuner', tuner, ...(tuner === 'moelora' ? ['--experts', arg('experts', '4')] : [])] });
  const peer = tuner === 'lora' ? runJson({ name: 'hf+peft', cmd: 'python3', args: [path.join(ROOT, 'bench/peer/hf_train_step.py'), ...common] }) : undefined;
  console.log(`train-step ${shape} (${tuner}, ${threads} threads, torch ${ours.torch})`);
  console.log(`  continual-next : ${fmt(ours.ms_per_step)} ms/step  ${fmt(ours.tokens_per_s, 0)} tokens/s  peak RSS ${fmt(ours.peak_rss_mb, 0)} MB`);
  if (peer) {
    console.log(`  hf + peft      : ${fmt(peer.ms_per_step)} ms/step  ${fmt(peer.tokens_per_s, 0)} tokens/s  peak RSS ${fmt(peer.peak_rss_mb, 0)} MB  (transformers ${peer.transformers}, peft ${peer.peft})`);
    console.log(`  ratio          : ${fmt(Number(ours.tokens_per_s) / Number(peer.tokens_per_s), 2)}× tokens/s, ${fmt(Number(ours.peak_rss_mb) / Number(peer.peak_rss_mb), 2)}× peak RSS`);
  }
  console.log(JSON.stringify({ bench: 'train-step', shape, ours, peer }));
}
