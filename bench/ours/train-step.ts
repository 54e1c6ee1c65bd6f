/**
 * Our side of bench/train-step: a LoRA (or --tuner moelora [--experts 4]) training step on a random-init Qwen2 shape, the same
 * recipe as bench/peer/hf_train_step.py (r, alpha 2r, dropout 0, all linear layers, AdamW
 * lr 1e-4 wd 0.01, labels on the second half, no padding). Prints one JSON line.
 * `--device cuda [--dtype bf16]` runs it on a GPU (bf16 by default there) and adds the CUDA
 * allocator's peak; `--seq`, `--batch` override the shape's.
 */
import { loadNative } from '../../ts/index';
import { ENGINE_DTYPE, SHAPES, arg, deviceArgs, peakRssMb, rng, type ShapeName } from './shapes';

async function main() {
  const shape = arg('shape', 'tiny') as ShapeName;
  const steps = Number(arg('steps', '10'));
  const warmup = Number(arg('warmup', '2'));
  const rank = Number(arg('rank', '8'));
  const threads = Number(arg('threads', '0'));
  const tuner = arg('tuner', 'lora');
  const native = loadNative();
  if (threads > 0) native.setThreads(threads);
  const { device, cuda, dtype } = deviceArgs();
  const { spec } = SHAPES[shape];
  const batch = Number(arg('batch', '0')) || SHAPES[shape].batch;
  const seq = Number(arg('seq', '0')) || SHAPES[shape].seq;
  const t0 = performance.now();
  const model = await native.Model.random(spec, { seed: 0, device, dtype: ENGINE_DTYPE[dtype] });
  if (tuner === 'lora') model.addTuner('lora', { r: rank, alpha: 2 * rank, dropout: 0, targetModules: 'all-linear' });
  else if (tuner === 'moelora') model.addTuner('moelora', { r: rank, alpha: 2 * rank, dropout: 0, experts: Number(arg('experts', '4')), targetModules: 'all-linear' });
  // AdaLoRA at init rank = --rank, pruning to half of it over the run (its schedule needs the step count)
  else if (tuner === 'adalora') model.addTuner('adalora', { initR: rank, targetR: rank / 2, alpha: 2 * rank, dropout: 0, totalStep: steps + warmup, targetModules: 'all-linear' });
  else model.addTuner(tuner, {});
  const buildS = (performance.now() - t0) / 1000;
  if (cuda) native.cudaMemory(device, { resetPeak: true }); // the run's peak, not the build's (the peer does the same)
  const rand = rng(1);
  const examples = Array.from({ length: (steps + warmup) * batch }, () => {
    const ids = Array.from({ length: seq }, () => 2 + Math.floor(rand() * (spec.vocabSize - 3)));
    return { inputIds: ids, labels: ids.map((t, j) => (j < seq / 2 ? -100 : t)) };
  });
  const stamps: number[] = [];
  const losses: number[] = [];
  await model.train(
    examples,
    { batchSize: batch, epochs: 1, learningRate: 1e-4, weightDecay: 0.01, maxGradNorm: 0, lrScheduler: 'constant', groupByLength: false },
    (p) => {
      stamps.push(p.elapsedSeconds * 1000);
      losses.push(p.loss);
    },
  );
  const durations = stamps.map((t, i) => t - (i === 0 ? 0 : stamps[i - 1])).slice(warmup);
  const sorted = [...durations].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const info = native.info();
  const gpu = cuda ? native.cudaMemory(device) : undefined;
  process.stdout.write(
    JSON.stringify({
      impl: 'continual-next',
      shape,
      tuner,
      device,
      dtype,
      batch,
      seq,
      rank,
      ms_per_step: median,
      ms_per_step_min: sorted[0],
      tokens_per_s: (batch * seq) / (median / 1000),
      peak_rss_mb: peakRssMb(),
      ...(gpu ? { peak_cuda_mb: gpu.peakAllocatedBytes / 2 ** 20, gpu: gpu.name } : {}),
      build_s: buildS,
      loss_first: losses[0],
      loss_last: losses[losses.length - 1],
      torch: info.torch.version,
      threads: info.threads.intraOp,
      trainable_params: model.parameterCount().trainable,
    }) + '\n',
  );
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
