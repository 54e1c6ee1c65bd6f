/**
 * bench/embed: sentence embeddings, our native encoder (SentenceEncoder) vs sentence-transformers
 * `encode`, same torch, threads, batch size and sentences, on a random-init model of the
 * paraphrase-multilingual-MiniLM-L12-v2 shape (see bench/peer/st_embed.py). Also prints the max
 * abs difference of the two sides' embeddings.
 *
 *   npx tsx bench/embed.ts [--threads 2] [--sentences 256] [--batch 32] [--vocab 250037] [--layers 12] [--device cuda] [--dtype fp32|bf16]
 *
 * On a GPU both sides run there (bf16 unless --dtype fp32), and the max difference is then bf16's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, fmt, runJson } from './compare';
import { arg, deviceArgs, rng } from './ours/shapes';

const WORDS = (
  'the a model news year task forgetting learning stream answer reference question market city river music ' +
  'government science result new old large small first last good bad café naïve über 天气 学习 模型 东京 😀 2024 3.14'
).split(' ');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-bench-embed-'));
try {
  const threads = arg('threads', '2');
  const count = Number(arg('sentences', '256'));
  const rand = rng(7);
  const sentences = Array.from({ length: count }, () =>
    Array.from({ length: 4 + Math.floor(rand() * 20) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' '),
  );
  const sentencesFile = path.join(dir, 'sentences.json');
  fs.writeFileSync(sentencesFile, JSON.stringify(sentences));
  const model = path.join(dir, 'model');
  const t0 = performance.now();
  const made = spawnSync('python3', [path.join(ROOT, 'bench/peer/st_embed.py'), '--make', model, '--vocab', arg('vocab', '250037'), '--layers', arg('layers', '12')], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: threads },
  });
  if (made.status !== 0) throw new Error(`making the model failed:\n${made.stderr.slice(-3000)}`);
  const makeS = (performance.now() - t0) / 1000;
  const { device, cuda, dtype } = deviceArgs();
  const common = ['--model', model, '--sentences', sentencesFile, '--threads', threads, '--batch', arg('batch', '32'), '--repeats', arg('repeats', '3'), '--device', device, '--dtype', dtype];
  const oursOut = path.join(dir, 'ours.f32');
  const peerOut = path.join(dir, 'peer.f32');
  process.env.OMP_NUM_THREADS = threads;
  const ours = runJson({ name: 'ours', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'bench/ours/embed.ts'), ...common, '--out', oursOut] });
  const peer = runJson({ name: 'sentence-transformers', cmd: 'python3', args: [path.join(ROOT, 'bench/peer/st_embed.py'), ...common, '--out', peerOut] });
  const a = new Float32Array(fs.readFileSync(oursOut).buffer.slice(0));
  const b = new Float32Array(fs.readFileSync(peerOut).buffer.slice(0));
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  const where = cuda ? `${device} ${peer.gpu ?? ''}, ${dtype}` : `${ours.threads} threads, ${dtype}`;
  console.log(`embed MiniLM-L12 shape, vocab ${arg('vocab', '250037')} (${where}, torch ${ours.torch}; model written in ${fmt(makeS, 1)} s)`);
  console.log(`  ${ours.sentences} sentences, ${ours.tokens} tokens (ours) / ${peer.tokens} (peer), batch ${arg('batch', '32')}`);
  console.log(`  continual-next        : ${fmt(ours.sentences_per_s, 1)} sentences/s  (${fmt(ours.ms_median, 0)} ms, load ${fmt(ours.load_ms, 0)} ms)  peak RSS ${fmt(ours.peak_rss_mb, 0)} MB`);
  console.log(`  sentence-transformers : ${fmt(peer.sentences_per_s, 1)} sentences/s  (${fmt(peer.ms_median, 0)} ms, load ${fmt(peer.load_ms, 0)} ms)  peak RSS ${fmt(peer.peak_rss_mb, 0)} MB`);
  console.log(`  ratio                 : ${fmt(Number(ours.sentences_per_s) / Number(peer.sentences_per_s), 2)}× sentences/s`);
  console.log(`  max |ours − peer|     : ${maxAbs.toExponential(2)} over ${a.length} values`);
  console.log(JSON.stringify({ bench: 'embed', ours, peer, maxAbsDiff: maxAbs }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
