/**
 * One worker of bench/ddp: LoRA training on the random-init shape, per-rank batch = the shape's
 * batch. Under `continual-next launch` it joins the process group and trains data parallel; else
 * it trains alone. Rank 0 (or the single process) prints one JSON line.
 */
import { Model, ProcessGroup, Trainer, isDistributedEnv, readRankEnv } from '../../ts/index';
import { SHAPES, arg, median, rng, type ShapeName } from './shapes';

async function main() {
  const shape = arg('shape', 'tiny') as ShapeName;
  const steps = Number(arg('steps', '10'));
  const warmup = Number(arg('warmup', '2'));
  const { spec, batch, seq } = SHAPES[shape];
  const world = isDistributedEnv() ? readRankEnv().worldSize : 1;
  const pg = world > 1 ? await ProcessGroup.fromEnv({ timeoutMs: 120_000 }) : undefined;
  const model = await Model.random(spec as never, { seed: 0 });
  model.addAdapter({ type: 'lora', r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear' });
  const rand = rng(1);
  const examples = Array.from({ length: (steps + warmup) * batch * world }, () => {
    const ids = Array.from({ length: seq }, () => 2 + Math.floor(rand() * (spec.vocabSize - 3)));
    return { inputIds: ids, labels: ids.map((t, j) => (j < seq / 2 ? -100 : t)) };
  });
  const stamps: number[] = [];
  const waits: number[] = [];
  await new Trainer(model, { batchSize: batch, epochs: 1, learningRate: 1e-4, weightDecay: 0.01, maxGradNorm: 0, lrScheduler: 'constant', groupByLength: false }).fit(examples, {
    ...(pg ? { processGroup: pg } : {}),
    onProgress: (p) => {
      stamps.push(p.elapsedSeconds * 1000);
      waits.push(pg ? pg.waitSeconds() * 1000 : 0);
    },
  });
  const ms = stamps.map((t, i) => t - (i === 0 ? 0 : stamps[i - 1])).slice(warmup);
  const waitMs = waits.map((t, i) => t - (i === 0 ? 0 : waits[i - 1])).slice(warmup);
  if (!pg || pg.rank === 0) {
    process.stdout.write(
      JSON.stringify({
        world,
        batch_per_rank: batch,
        ms_per_step: median(ms),
        samples_per_s: (world * batch) / (median(ms) / 1000),
        collective_wait_ms_per_step: median(waitMs),
        trainable_params: model.parameterCount().trainable,
      }) + '\n',
    );
  }
  await model.dispose();
  await pg?.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
