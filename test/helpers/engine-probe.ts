/**
 * Child process of test/cpu-engine.test.ts: reports which CPU GEMM library and allocator this
 * process uses (they are read from the environment once, at load) and the logits and trained
 * LoRA weights of a fixed tiny model, as one JSON line.
 */
import { Model, Tensor, Trainer, info } from '../../ts/index';
import { QA_EXAMPLES, TINY_SPEC } from './tiny-model';

async function main() {
  await using model = await Model.random(TINY_SPEC, { seed: 5, std: 0.1 });
  model.addAdapter({ type: 'lora', r: 4, alpha: 8, targetModules: 'all-linear', seed: 2 });
  await new Trainer(model, { epochs: 3, batchSize: 2, learningRate: 1e-2, lrScheduler: 'constant' }).fit(QA_EXAMPLES);
  const ids = QA_EXAMPLES[0].inputIds;
  const logits = await model.forward(Tensor.fromArray(BigInt64Array.from(ids.map(BigInt)), [1, ids.length]));
  const i = info();
  process.stdout.write(
    JSON.stringify({ cpuGemm: i.torch.cpuGemm, allocator: i.cpuAllocator, logits: Array.from(logits.toArray() as Float32Array) }) + '\n',
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
