/**
 * bench/ddp: data-parallel LoRA training, 2 processes × 1 thread (under `continual-next launch`,
 * gloo over 127.0.0.1) against 1 process × 1 thread, same per-rank batch and shape. Prints
 * samples/s of both, their ratio (2.0 would be perfect scaling) and the time per step rank 0 spends
 * blocked in collectives (what the bucketed all-reduce did not hide behind backward).
 *
 *   npx tsx bench/ddp.ts [--shape tiny] [--steps 10] [--warmup 2] [--nproc 2]
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { ROOT, TSX, fmt, runJson } from './compare';
import { arg } from './ours/shapes';

const shape = arg('shape', 'tiny');
const nproc = arg('nproc', '2');
const common = ['--shape', shape, '--steps', arg('steps', '10'), '--warmup', arg('warmup', '2')];
const worker = path.join(ROOT, 'bench/ours/ddp-worker.ts');
process.env.OMP_NUM_THREADS = '1';
const single = runJson({ name: '1 process', cmd: TSX[0], args: [...TSX.slice(1), worker, ...common] });
const launched = spawnSync(TSX[0], [...TSX.slice(1), path.join(ROOT, 'ts/cli/main.ts'), 'launch', '--nproc-per-node', nproc, '--', ...TSX, worker, ...common], { encoding: 'utf8' });
if (launched.status !== 0) throw new Error(`${nproc} processes failed (${launched.status}):\n${launched.stderr.slice(-3000)}`);
// The launcher prefixes rank 0's JSON line with "[rank 0] ".
const line = launched.stdout.split('\n').find((l) => l.startsWith('[rank 0] {'));
if (!line) throw new Error(`no result from rank 0:\n${launched.stdout.slice(-2000)}`);
const ddp = JSON.parse(line.slice('[rank 0] '.length)) as Record<string, number | string>;
console.log(`ddp ${shape} (per-rank batch ${single.batch_per_rank}, 1 thread per process, gloo on 127.0.0.1)`);
console.log(`  1 process      : ${fmt(single.ms_per_step)} ms/step  ${fmt(single.samples_per_s)} samples/s`);
console.log(`  ${nproc} processes    : ${fmt(ddp.ms_per_step)} ms/step  ${fmt(ddp.samples_per_s)} samples/s  blocked in collectives ${fmt(ddp.collective_wait_ms_per_step, 2)} ms/step`);
console.log(`  ratio          : ${fmt(Number(ddp.samples_per_s) / Number(single.samples_per_s), 2)}× samples/s`);
console.log(JSON.stringify({ bench: 'ddp', shape, single, ddp }));
