/**
 * Our side of bench/generate: batched greedy decoding on a random-init Qwen2 shape, the same
 * recipe as bench/peer/hf_generate.py (seeded prompt lengths, left padding, every row decodes
 * exactly N tokens: no EOS). Prints one JSON line.
 */
import { loadNative } from '../../ts/index';
import { ENGINE_DTYPE, SHAPES, arg, deviceArgs, median, peakRssMb, rng, type ShapeName } from './shapes';

async function main() {
  const shape = arg('shape', 'tiny') as ShapeName;
  const prompts = Number(arg('prompts', '16'));
  const newTokens = Number(arg('new-tokens', '64'));
  const minPrompt = Number(arg('min-prompt', '16'));
  const maxPrompt = Number(arg('max-prompt', '64'));
  const threads = Number(arg('threads', '0'));
  const repeats = Number(arg('repeats', '1'));
  const native = loadNative();
  if (threads > 0) native.setThreads(threads);
  const { spec } = SHAPES[shape];
  const { device, cuda, dtype } = deviceArgs();
  const model = await native.Model.random(spec, { seed: 0, device, dtype: ENGINE_DTYPE[dtype] });
  if (cuda) native.cudaMemory(device, { resetPeak: true }); // the run's peak, as the peer's
  const rand = rng(3);
  const batch = Array.from({ length: prompts }, () => {
    const len = minPrompt + Math.floor(rand() * (maxPrompt - minPrompt + 1));
    return Array.from({ length: len }, () => 2 + Math.floor(rand() * (spec.vocabSize - 3)));
  });
  const options = { maxNewTokens: newTokens, eosTokenIds: [] as string[], padTokenId: 0 };
  await model.generate(batch.slice(0, 2), { ...options, maxNewTokens: 4 }); // warmup
  // timed calls; the median is reported (one call on the tiny shape is ~0.25 s: cloud cores drift)
  const times: number[] = [];
  let produced = 0;
  for (let r = 0; r < repeats; ++r) {
    const t0 = performance.now();
    const out = await model.generate(batch, options);
    times.push(performance.now() - t0);
    produced = out.reduce((n, row) => n + row.length, 0);
  }
  const ms = median(times);
  const info = native.info();
  const gpu = cuda ? native.cudaMemory(device) : undefined;
  process.stdout.write(
    JSON.stringify({
      impl: 'continual-next',
      shape,
      tokens_per_s: produced / (ms / 1000),
      ms_total: ms,
      new_tokens: produced,
      peak_rss_mb: peakRssMb(),
      device,
      dtype,
      ...(gpu ? { peak_cuda_mb: gpu.peakAllocatedBytes / 2 ** 20, gpu: gpu.name } : {}),
      torch: info.torch.version,
      threads: info.threads.intraOp,
      repeats,
    }) + '\n',
  );
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
