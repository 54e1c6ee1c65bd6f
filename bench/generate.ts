/**
 * bench/generate: batched greedy decoding, ours vs HF `generate`, same torch, threads and shapes.
 *
 *   npx tsx bench/generate.ts [--shape tiny|qwen0.5b|qwen7b|all] [--threads 2] [--prompts 16] [--new-tokens 64] [--repeats N] [--pairs P]
 *       [--device cuda] [--dtype fp32|bf16]
 *
 * Each side times N generate calls (default 5 on tiny, 1 on qwen0.5b, 3 on a GPU) and reports the
 * median. On a GPU (bf16 unless --dtype says otherwise) the defaults are 64 prompts × 128 new tokens.
 */
import path from 'node:path';

import { ROOT, fmt, memoryFigure, runJson } from './compare';
import { arg, deviceArgs, median } from './ours/shapes';

const { device, cuda, dtype } = deviceArgs();
const shapes = arg('shape', 'tiny') === 'all' ? ['tiny', 'qwen0.5b'] : [arg('shape', 'tiny')];
// This VM's speed drifts over minutes: with --pairs P the two sides run P times, alternating,
// and each pair's ratio is printed with their median.
const pairs = Number(arg('pairs', '1'));
for (const shape of shapes) {
  const repeats = arg('repeats', cuda ? '3' : shape === 'tiny' ? '5' : '1');
  const common = ['--shape', shape, '--threads', arg('threads', '2'), '--prompts', arg('prompts', cuda ? '64' : '16'), '--new-tokens', arg('new-tokens', cuda ? '128' : '64'), '--repeats', repeats, '--device', device, '--dtype', dtype];
  const ratios: number[] = [];
  for (let p = 0; p < pairs; ++p) {
    const ours = runJson({ name: 'ours', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'bench/ours/generate.ts'), ...common] });
    const peer = runJson({ name: 'hf', cmd: 'python3', args: [path.join(ROOT, 'bench/peer/hf_generate.py'), ...common] });
    const ratio = Number(ours.tokens_per_s) / Number(peer.tokens_per_s);
    ratios.push(ratio);
    const pair = pairs > 1 ? `, pair ${p + 1} of ${pairs}` : '';
    const where = cuda ? `${device} ${ours.gpu ?? ''}, ${dtype}` : `${ours.threads} threads, ${dtype}`;
    console.log(`generate ${shape} (${where}, torch ${ours.torch}, median of ${repeats}${pair})`);
    console.log(`  continual-next : ${fmt(ours.tokens_per_s, 0)} tokens/s  (${fmt(ours.ms_total, 0)} ms)  ${memoryFigure(ours, cuda)}`);
    console.log(`  hf generate    : ${fmt(peer.tokens_per_s, 0)} tokens/s  (${fmt(peer.ms_total, 0)} ms)  ${memoryFigure(peer, cuda)}`);
    console.log(`  ratio          : ${fmt(ratio, 2)}× tokens/s`);
    console.log(JSON.stringify({ bench: 'generate', shape, ours, peer }));
  }
  if (pairs > 1) console.log(`generate ${shape}: ratios ${ratios.map((r) => fmt(r, 2)).join(' / ')}, median ${fmt(median(ratios), 2)}×`);
}
