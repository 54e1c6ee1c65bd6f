/**
 * bench/generate: batched greedy decoding, ours vs HF `generate`, same torch, threads and shapes.
 *
 *   npx tsx bench/generate.ts [--shape tiny|qwen0.5b|all] [--threads 2] [--prompts 16] [--new-tokens 64] [--repeats N] [--pairs P]
 *
 * Each side times N generate calls (default 5 on tiny, 1 on qwen0.5b) and reports the median.
 */
import path from 'node:path';

import { ROOT, fmt, runJson } from './compare';
import { arg, median } from './ours/shapes';

const shapes = arg('shape', 'tiny') === 'all' ? ['tiny', 'qwen0.5b'] : [arg('shape', 'tiny')];
// This VM's speed drifts over minutes: with --pairs P the two sides run P times, alternating,
// and each pair's ratio is printed with their median.
const pairs = Number(arg('pairs', '1'));
for (const shape of shapes) {
  const repeats = arg('repeats', shape === 'tiny' ? '5' : '1');
  const common = ['--shape', shape, '--threads', arg('threads', '2'), '--prompts', arg('prompts', '16'), '--new-tokens', arg('new-tokens', '64'), '--repeats', repeats];
  const ratios: number[] = [];
  for (let p = 0; p < pairs; ++p) {
    const ours = runJson({ name: 'ours', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'bench/ours/generate.ts'), ...common] });
    const peer = runJson({ name: 'hf', cmd: 'python3', args: [path.join(ROOT, 'bench/peer/hf_generate.py'), ...common] });
    const ratio = Number(ours.tokens_per_s) / Number(peer.tokens_per_s);
    ratios.push(ratio);
    const pair = pairs > 1 ? `, pair ${p + 1} of ${pairs}` : '';
    console.log(`generate ${shape} (${ours.threads} threads, torch ${ours.torch}, median of ${repeats}${pair})`);
    console.log(`  continual-next : ${fmt(ours.tokens_per_s, 0)} tokens/s  (${fmt(ours.ms_total, 0)} ms)  peak RSS ${fmt(ours.peak_rss_mb, 0)} MB`);
    console.log(`  hf generate    : ${fmt(peer.tokens_per_s, 0)} tokens/s  (${fmt(peer.ms_total, 0)} ms)  peak RSS ${fmt(peer.peak_rss_mb, 0)} MB`);
    console.log(`  ratio          : ${fmt(ratio, 2)}× tokens/s`);
    console.log(JSON.stringify({ bench: 'generate', shape, ours, peer }));
  }
  if (pairs > 1) console.log(`generate ${shape}: ratios ${ratios.map((r) => fmt(r, 2)).join(' / ')}, median ${fmt(median(ratios), 2)}×`);
}
