/**
 * bench/method-overhead: time per training step of each CL method relative to plain LoRA, on the
 * same model, batch and data, in one run. Each method first "finishes" a task (so EWC has its
 * Fisher, LwF its teacher, GEM/A-GEM their memory, CIA its EMA), then trains the second task; the
 * second task's steps are timed (median, after warm-up).
 *
 * The methods run in rounds (each round times every method, plain LoRA included); a method's
 * ratio is the median over rounds of its time / LoRA's time in the same round, so a machine whose
 * speed drifts over minutes (shared cloud cores) does not bias one method.
 *
 *   npx tsx bench/method-overhead.ts [--shape tiny] [--threads 2] [--steps 12] [--warmup 2] [--rounds 3]
 *       [--methods seqft,ewc,lwf,gem,agem,cia] [--options '{"agem":{"referenceBatch":4}}']
 */
import { Model, Trainer, loadNative } from '../ts/index';
import type { DecoderSpec, MethodConfigInput } from '../ts/index';
import { SHAPES, arg, median, rng, type ShapeName } from './ours/shapes';

const OPTIONS: Record<string, MethodConfigInput | undefined> = {
  seqft: undefined,
  ewc: { name: 'ewc' },
  lwf: { name: 'lwf' },
  gem: { name: 'gem' },
  agem: { name: 'agem' },
  cia: { name: 'cia' },
};

function examples(count: number, seq: number, vocab: number, seed: number) {
  const rand = rng(seed);
  return Array.from({ length: count }, () => {
    const ids = Array.from({ length: seq }, () => 2 + Math.floor(rand() * (vocab - 3)));
    return { inputIds: ids, labels: ids.map((t, j) => (j < seq / 2 ? -100 : t)) };
  });
}

async function timeMethod(name: string, shape: ShapeName, steps: number, warmup: number): Promise<number> {
  const { spec, batch, seq } = SHAPES[shape];
  await using model = await Model.random({ ...spec } as unknown as DecoderSpec, { seed: 0 });
  model.addAdapter({ type: 'lora', r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear' });
  const task0 = examples(4 * batch, seq, spec.vocabSize, 1);
  const task1 = examples((steps + warmup) * batch, seq, spec.vocabSize, 2);
  const options = { batchSize: batch, learningRate: 1e-4, weightDecay: 0.01, lrScheduler: 'constant' as const, groupByLength: false };
  const method = OPTIONS[name];
  if (method) model.setMethod(method);
  if (method) await model.beforeTask(0);
  await new Trainer(model, { ...options, maxSteps: 2 }).fit(task0);
  if (method) await model.afterTask(0, task0);
  if (method) await model.beforeTask(1);
  const stamps: number[] = [];
  await new Trainer(model, options).fit(task1, { onProgress: (p) => stamps.push(p.elapsedSeconds * 1000) });
  return median(stamps.map((t, i) => t - (i === 0 ? 0 : stamps[i - 1])).slice(warmup));
}

async function main() {
  const shape = arg('shape', 'tiny') as ShapeName;
  const steps = Number(arg('steps', '12'));
  const warmup = Number(arg('warmup', '2'));
  const threads = Number(arg('threads', '2'));
  const methods = arg('methods', Object.keys(OPTIONS).join(',')).split(',');
  for (const [m, extra] of Object.entries(JSON.parse(arg('options', '{}')) as Record<string, object>)) OPTIONS[m] = { ...OPTIONS[m], ...extra } as MethodConfigInput;
  if (threads > 0) loadNative().setThreads(threads);
  const rounds = Number(arg('rounds', '3'));
  const { batch, seq } = SHAPES[shape];
  for (const m of methods) if (!(m in OPTIONS)) throw new Error(`unknown method ${m}; known: ${Object.keys(OPTIONS).join(', ')}`);
  const timed = methods.includes('seqft') ? methods : ['seqft', ...methods];
  const times: Record<string, number[]> = Object.fromEntries(timed.map((m) => [m, []]));
  const ratios: Record<string, number[]> = Object.fromEntries(timed.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    const round: Record<string, number> = {};
    for (const m of timed) round[m] = await timeMethod(m, shape, steps, warmup);
    for (const m of timed) {
      times[m].push(round[m]);
      ratios[m].push(round[m] / round.seqft);
    }
  }
  console.log(`method options: ${JSON.stringify(Object.fromEntries(methods.map((m) => [m, OPTIONS[m] ?? {}])))}`);
  console.log(`method-overhead ${shape} (LoRA r 8 all-linear, batch ${batch} × ${seq}, ${loadNative().info().threads.intraOp} threads, torch ${loadNative().info().torch.version}, ${rounds} rounds)`);
  for (const m of timed) {
    console.log(`  ${m.padEnd(6)} ${median(times[m]).toFixed(1).padStart(8)} ms/step   ${median(ratios[m]).toFixed(2)}× LoRA   (rounds: ${ratios[m].map((x) => x.toFixed(2)).join(', ')})`);
  }
  console.log(JSON.stringify({ bench: 'method-overhead', shape, rounds, ms_per_step: Object.fromEntries(timed.map((m) => [m, median(times[m])])), ratio: Object.fromEntries(timed.map((m) => [m, median(ratios[m])])) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
