/**
 * The engine on a GPU ([gpu]: skipped without CUDA): LoRA training and greedy generation in
 * float32 on CUDA against the same run on CPU, then in bfloat16; the CUDA default of the chunked
 * LM-head loss against the whole logits; the sentence encoder on CUDA; the allocator counters.
 * Without CUDA, only the typed errors are checked. The decoder's HF parity cases also run on CUDA
 * (test/decoder.test.ts, "on CUDA [gpu]").
 */
import { expect } from 'chai';
import path from 'node:path';

import { DeviceError, InvalidArgumentError, Model, SentenceEncoder, Trainer, cudaMemory, info, loadNative } from '../ts/index';
import type { DType } from '../ts/native/bindings';
import { ROOT } from './helpers/run';

const QWEN2 = path.join(ROOT, 'test', 'fixtures', 'decoder', 'qwen2', 'model');
const ENCODER = path.join(ROOT, 'test', 'fixtures', 'encoder', 'xlmr');

/** Seeded token rows of varied length (the fixture's vocabulary is 320; 0 is padding). */
function examples(count: number, seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return Array.from({ length: count }, () => {
    const ids = Array.from({ length: 6 + Math.floor(next() * 10) }, () => 1 + Math.floor(next() * 318));
    return { inputIds: ids, labels: ids.map((t, j) => (j < 2 ? -100 : t)) };
  });
}

const TRAIN = { batchSize: 4, epochs: 3, learningRate: 5e-3, lrScheduler: 'constant', weightDecay: 0, maxGradNorm: 0, groupByLength: false } as const;

async function trainLosses(device: string, dtype: DType): Promise<number[]> {
  await using model = await Model.load(QWEN2, { device, dtype });
  model.native.addTuner('lora', { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear' });
  const losses: number[] = [];
  await model.native.train(examples(12, 5), TRAIN, (p) => losses.push(p.loss));
  return losses;
}

async function greedy(device: string, dtype: DType): Promise<number[][]> {
  await using model = await Model.load(QWEN2, { device, dtype });
  return await model.native.generate(examples(5, 9).map((e) => e.inputIds), { maxNewTokens: 12, eosTokenIds: [], padTokenId: 0 });
}

describe('the engine on CUDA', function () {
  const gpu = info().torch.cudaAvailable && info().build.cuda;

  it('cudaMemory without a usable CUDA device is a DeviceError naming the device; on cpu an InvalidArgumentError', function () {
    if (gpu) this.skip();
    expect(() => cudaMemory()).to.throw(DeviceError).with.property('field', 'device');
    expect(() => cudaMemory('cpu')).to.throw(InvalidArgumentError);
  });

  describe('training, generation, encoding in float32 and bfloat16 [gpu]', function () {
    before(function () {
      if (!gpu) this.skip();
    });

    it('LoRA training in float32 on CUDA follows the CPU run; in bfloat16 it follows within bf16 rounding', async () => {
      const cpu = await trainLosses('cpu', 'float32');
      const cuda32 = await trainLosses('cuda', 'float32');
      const cuda16 = await trainLosses('cuda', 'bfloat16');
      expect(cuda32).to.have.length(cpu.length);
      cpu.forEach((l, i) => expect(cuda32[i], `float32 step ${i}`).to.be.closeTo(l, 1e-3 * Math.max(1, l)));
      cpu.forEach((l, i) => expect(cuda16[i], `bfloat16 step ${i}`).to.be.closeTo(l, 0.05 * Math.max(1, l)));
      // the same 12 examples three times: the loss must fall
      expect(cuda16[cuda16.length - 1]).to.be.below(cuda16[0]);
    });

    it('greedy generation in float32 on CUDA gives the CPU tokens; bfloat16 gives full-length rows in the vocabulary', async () => {
      const cpu = await greedy('cpu', 'float32');
      expect(await greedy('cuda', 'float32')).to.deep.equal(cpu);
      const bf16 = await greedy('cuda', 'bfloat16');
      expect(bf16.map((r) => r.length)).to.deep.equal(cpu.map((r) => r.length));
      for (const row of bf16) for (const t of row) expect(t).to.be.within(0, 319);
    });

    const DROPOUT_TUNERS = [
      { type: 'lora', r: 4, dropout: 0.3 },
      { type: 'moelora', experts: 2, r: 4, dropout: 0.3 },
      { type: 'adapter', dropout: 0.3 },
    ] as const;
    for (const tuner of DROPOUT_TUNERS) it(`${tuner.type} dropout on CUDA (hash dropout): the same seed trains the same; gradient checkpointing replays the mask`, async () => {
      const run = async (gradientCheckpointing: boolean, seed: number) => {
        await using model = await Model.load(QWEN2, { device: 'cuda' });
        model.addAdapter({ ...tuner, seed } as Parameters<Model['addAdapter']>[0]);
        const s = await new Trainer(model, { epochs: 2, batchSize: 4, learningRate: 1e-2, gradientCheckpointing, seed: 3 }).fit(examples(12, 5));
        const state = Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, Array.from(t.toArray() as Float32Array)]));
        return { loss: s.finalLoss, state };
      };
      const a = await run(false, 1);
      const b = await run(false, 1);
      const c = await run(true, 1);
      const other = await run(false, 2);
      expect(b.state).to.deep.equal(a.state);
      expect(c.loss).to.be.closeTo(a.loss, 1e-4);
      for (const k of Object.keys(a.state)) a.state[k].forEach((v, i) => expect(Math.abs(c.state[k][i] - v), k).to.be.below(1e-4));
      expect(other.loss).to.not.equal(a.loss);
    });

    it('the chunked LM-head loss (CUDA default) equals the whole-logits loss in loss and gradients', async () => {
      await using model = await Model.load(QWEN2, { device: 'cuda' });
      model.native.addTuner('lora', { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear' });
      const native = loadNative();
      const rows = examples(3, 11).map((e) => e.inputIds.slice(0, 6));
      const ids = native.Tensor.fromArray(BigInt64Array.from(rows.flat(), BigInt), [3, 6], 'int64');
      const previous = process.env.CN_CHUNKED_LOSS;
      try {
        process.env.CN_CHUNKED_LOSS = '0';
        const whole = await model.native.lossAndGradients(ids, ids);
        delete process.env.CN_CHUNKED_LOSS;
        const chunked = await model.native.lossAndGradients(ids, ids);
        expect(chunked.loss).to.be.closeTo(whole.loss, 1e-5 * Math.max(1, whole.loss));
        for (const [k, g] of Object.entries(whole.gradients)) {
          const a = g.toArray() as Float32Array, b = chunked.gradients[k].toArray() as Float32Array;
          let max = 0, scale = 0;
          for (let i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
          }
          expect(max, k).to.be.at.most(1e-4 * Math.max(scale, 1e-3));
        }
      } finally {
        if (previous === undefined) delete process.env.CN_CHUNKED_LOSS;
        else process.env.CN_CHUNKED_LOSS = previous;
        ids.dispose();
      }
    });

    it('the sentence encoder on CUDA gives the CPU embeddings', async () => {
      const texts = ['a short one', 'the reference answer of the year 2024', 'café naïve über 天气'];
      await using cpu = await SentenceEncoder.load(ENCODER);
      await using cuda = await SentenceEncoder.load(ENCODER, { device: 'cuda' });
      const a = await cpu.encode(texts), b = await cuda.encode(texts);
      expect(b.length).to.equal(a.length);
      for (let i = 0; i < a.length; i++) expect(b[i], `value ${i}`).to.be.closeTo(a[i], 1e-4);
    });

    it('cudaMemory counts a loaded model and starts a new peak on request', async () => {
      const before = cudaMemory('cuda', { resetPeak: true });
      expect(before.name).to.be.a('string').and.not.equal('');
      expect(before.totalBytes).to.be.above(1e9);
      await using model = await Model.load(QWEN2, { device: 'cuda' });
      const loaded = cudaMemory('cuda');
      expect(loaded.allocatedBytes).to.be.above(before.allocatedBytes);
      expect(loaded.peakAllocatedBytes).to.be.at.least(loaded.allocatedBytes);
      expect(loaded.reservedBytes).to.be.at.least(loaded.allocatedBytes);
      expect(() => cudaMemory('cuda:99')).to.throw(DeviceError);
      void model;
    });
  });
});
