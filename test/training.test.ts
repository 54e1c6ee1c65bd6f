/** Training behaviour on a tiny random model: it learns, is deterministic, reports progress, aborts. */
import { expect } from 'chai';

import { AbortError, ConfigError, InvalidArgumentError, Model, Trainer, loadNative } from '../ts/index';
import { tmpDir } from './helpers/run';
import { TINY_SPEC, QA_PAIRS, QA_EXAMPLES } from './helpers/tiny-model';

const SPEC = TINY_SPEC;

/** Four "question → answer" token sequences; the loss is on the answers only. */
const PAIRS = QA_PAIRS;
const EXAMPLES = QA_EXAMPLES;

/** The largest |difference| between two tuner states' values, over every tensor. */
function maxStateDiff(a: Record<string, { toArray(): unknown }>, b: Record<string, { toArray(): unknown }>): number {
  let max = 0;
  for (const key of Object.keys(a)) {
    const x = a[key].toArray() as Float32Array;
    const y = b[key].toArray() as Float32Array;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  }
  return max;
}

async function trainedModel(seed: number, epochs = 60) {
  const model = await Model.random(SPEC, { seed: 3, std: 0.1 });
  model.addAdapter({ type: 'lora', r: 8, alpha: 16, dropout: 0.1, seed });
  const progress: number[] = [];
  const summary = await new Trainer(model, { epochs, batchSize: 2, learningRate: 2e-2, lrScheduler: 'cosine', warmupSteps: 5, seed }).fit(EXAMPLES, {
    onProgress: (p) => progress.push(p.loss),
  });
  return { model, summary, progress };
}

describe('training', () => {
  it('memorises question → answer pairs and then generates the answers', async () => {
    const { model, summary, progress } = await trainedModel(1);
    try {
      expect(summary.steps).to.equal(60 * 2);
      expect(progress).to.have.length(120);
      expect(progress[progress.length - 1]).to.be.below(progress[0] / 5);
      const out = await model.native.generate(
        PAIRS.map((p) => p.q),
        { maxNewTokens: 8, eosTokenIds: ['1'], padTokenId: 0 },
      );
      expect(out).to.deep.equal(PAIRS.map((p) => p.a));
    } finally {
      await model.dispose();
    }
  });

  it('is bit-for-bit deterministic for a fixed seed (dropout and shuffling included)', async () => {
    const a = await trainedModel(5, 5);
    const b = await trainedModel(5, 5);
    const c = await trainedModel(6, 5);
    try {
      const sa = a.model.native.tunerState();
      const sb = b.model.native.tunerState();
      const sc = c.model.native.tunerState();
      let differsFromOtherSeed = false;
      for (const key of Object.keys(sa)) {
        const x = Buffer.from((sa[key].toArray() as Float32Array).buffer);
        expect(x.equals(Buffer.from((sb[key].toArray() as Float32Array).buffer)), key).to.equal(true);
        if (!x.equals(Buffer.from((sc[key].toArray() as Float32Array).buffer))) differsFromOtherSeed = true;
      }
      expect(differsFromOtherSeed).to.equal(true);
      expect(a.progress).to.deep.equal(b.progress);
    } finally {
      await Promise.all([a.model.dispose(), b.model.dispose(), c.model.dispose()]);
    }
  });

  it('stops with AbortError when the signal aborts, and keeps the event loop free', async () => {
    await using model = await Model.random(SPEC, { seed: 3 });
    model.addAdapter({ type: 'lora' });
    const controller = new AbortController();
    let steps = 0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const run = new Trainer(model, { epochs: 10_000, batchSize: 1 }).fit(EXAMPLES, {
      signal: controller.signal,
      onProgress: (p) => {
        steps = p.step;
        if (p.step === 20) controller.abort();
      },
    });
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    clearInterval(timer);
    expect(err).to.be.instanceOf(AbortError);
    expect(steps).to.be.within(20, 40);
    expect(ticks).to.be.greaterThan(5);
  });

  it('rejects bad options and bad examples with typed errors naming the field', async () => {
    await using model = await Model.random(SPEC);
    expect(() => new Trainer(model, { learningRate: -1 })).to.throw(ConfigError, /learningRate/);
    expect(() => new Trainer(model, { bogus: 1 } as never)).to.throw(ConfigError, /bogus/);
    let err = await new Trainer(model).fit(EXAMPLES).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/no tuner/);
    model.addAdapter({ type: 'lora' });
    err = await new Trainer(model).fit([{ inputIds: [1, 2, 999], labels: [1, 2, 3] }]).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(InvalidArgumentError);
    expect((err as Error).message).to.match(/token id 999 outside the vocabulary/);
    expect(() => model.addAdapter({ type: 'lora', targetModules: ['nope'] })).to.throw(ConfigError);
  });

  it('gradient checkpointing gives the same training (dropout replayed) as keeping activations', async () => {
    const run = async (gradientCheckpointing: boolean) => {
      const m = await Model.random(SPEC, { seed: 8, std: 0.1 });
      m.addAdapter({ type: 'lora', r: 4, dropout: 0.3, seed: 1 });
      const s = await new Trainer(m, { epochs: 3, batchSize: 2, learningRate: 1e-2, gradientCheckpointing, seed: 3 }).fit(EXAMPLES);
      return { m, s, state: m.native.tunerState() };
    };
    const a = await run(false);
    const b = await run(true);
    try {
      expect(b.s.finalLoss).to.be.closeTo(a.s.finalLoss, 1e-5);
      expect(maxStateDiff(a.state, b.state)).to.be.below(1e-5);
    } finally {
      await Promise.all([a.m.dispose(), b.m.dispose()]);
    }
  });

  it('the loss over chunks of rows (CN_CHUNKED_LOSS=1, no logits held) gives the loss, gradients and training of the whole logits', async () => {
    const withChunks = async <T>(chunked: '0' | '1', f: () => Promise<T>): Promise<T> => {
      process.env.CN_CHUNKED_LOSS = chunked;
      try {
        return await f();
      } finally {
        delete process.env.CN_CHUNKED_LOSS;
      }
    };
    const fresh = async () => {
      const m = await Model.random(SPEC, { seed: 9, std: 0.1 });
      m.addAdapter({ type: 'lora', r: 4, dropout: 0, seed: 2 });  // no dropout draws: the two paths see the same forward
      return m;
    };
    const m = await fresh();
    try {
      await new Trainer(m, { epochs: 2, batchSize: 2, learningRate: 1e-2, seed: 4 }).fit(EXAMPLES);  // B ≠ 0
      const e = EXAMPLES[1];
      const ids = loadNative().Tensor.fromArray(BigInt64Array.from(e.inputIds.map(BigInt)), [1, e.inputIds.length]);
      const labels = loadNative().Tensor.fromArray(BigInt64Array.from(e.labels.map(BigInt)), [1, e.labels.length]);
      const whole = await withChunks('0', () => m.native.lossAndGradients(ids, labels));
      const chunks = await withChunks('1', () => m.native.lossAndGradients(ids, labels));
      expect(chunks.loss).to.be.closeTo(whole.loss, 1e-6 * whole.loss);
      for (const [name, g] of Object.entries(whole.gradients)) {
        const x = g.toArray() as Float32Array, y = chunks.gradients[name].toArray() as Float32Array;
        const scale = x.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        expect(scale, name).to.be.above(0);
        for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i]), name).to.be.at.most(1e-5 * scale);
      }
      for (const t of [ids, labels, ...Object.values(whole.gradients), ...Object.values(chunks.gradients)]) t.dispose();
    } finally {
      await m.dispose();
    }
    // whole fits, plain and with a method that reads no logits (EWC); AdamW magnifies rounding on
    // the smallest gradients, hence 1e-4
    for (const method of [undefined, 'ewc'] as const) {
      const fit = (chunked: '0' | '1') =>
        withChunks(chunked, async () => {
          const f = await fresh();
          if (method) f.setMethod({ name: method });
          if (method) await f.beforeTask(0);
          const s = await new Trainer(f, { epochs: 3, batchSize: 2, learningRate: 1e-2, seed: 4 }).fit(EXAMPLES);
          return { f, s, state: f.native.tunerState() };
        });
      const a = await fit('0');
      const b = await fit('1');
      try {
        expect(b.s.finalLoss, method ?? 'lora').to.be.closeTo(a.s.finalLoss, 1e-4);
        expect(maxStateDiff(a.state, b.state), method ?? 'lora').to.be.below(1e-4);
      } finally {
        await Promise.all([a.f.dispose(), b.f.dispose()]);
      }
    }
  });

  it('bfloat16 parameters are updated through float32 masters: steps far below their rounding still add up', async () => {
    // lr 1e-4: each AdamW step moves an element ~1e-4, under half a bf16 step (~5e-4) at |A| ≈ 0.1,
    // so a parameter updated in bf16 itself would never move; through a float32 master it follows
    // the float32 run to within a few bf16 steps.
    const bits = (t: { toArray(): unknown; dtype: string }) => {
      const a = t.toArray() as Uint16Array | Float32Array;
      if (a instanceof Float32Array) return a;
      const out = new Float32Array(a.length), view = new DataView(new ArrayBuffer(4));
      a.forEach((v, i) => {
        view.setUint32(0, v << 16);
        out[i] = view.getFloat32(0);
      });
      return out;
    };
    const run = async (dtype: 'float32' | 'bfloat16') => {
      await using model = await Model.random(SPEC, { seed: 3, std: 0.1, dtype });
      model.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 1 });
      const init = Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, bits(t)]));
      await new Trainer(model, { epochs: 4, batchSize: 4, learningRate: 1e-4, lrScheduler: 'constant', weightDecay: 0 }).fit(EXAMPLES);
      const after = Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, bits(t)]));
      return { init, after };
    };
    const f32 = await run('float32');
    const bf16 = await run('bfloat16');
    let moved = 0, total = 0, far = 0;
    for (const key of Object.keys(bf16.after).filter((k) => k.includes('lora_A'))) {
      const a0 = bf16.init[key], a1 = bf16.after[key], ref = f32.after[key];
      for (let i = 0; i < a1.length; i++) {
        total++;
        if (a1[i] !== a0[i]) moved++;
        if (Math.abs(a1[i] - ref[i]) > 4 * 2 ** -8 * Math.max(Math.abs(ref[i]), 1e-3)) far++;
      }
    }
    expect(total).to.be.above(0);
    expect(moved / total, 'share of bf16 A elements that moved').to.be.above(0.5);
    expect(far / total, 'share more than 4 bf16 steps from the float32 run').to.be.below(0.02);
  });

  it('full fine-tuning trains every weight', async () => {
    await using model = await Model.random(SPEC, { seed: 3, std: 0.1 });
    model.addAdapter({ type: 'full' });
    const counts = model.parameterCount();
    expect(counts.trainable).to.equal(counts.base);
    const s = await new Trainer(model, { epochs: 20, batchSize: 4, learningRate: 1e-2 }).fit(EXAMPLES);
    expect(s.finalLoss).to.be.below(1.0);
  });
});

describe('checkpoints', () => {
  it('a run killed mid-way and resumed ends bit-identical to an uninterrupted run', async () => {
    const options = { epochs: 6, batchSize: 1, gradientAccumulation: 2, learningRate: 1e-2, lrScheduler: 'cosine' as const, warmupSteps: 2, seed: 9 };
    const fresh = async () => {
      const m = await Model.random(SPEC, { seed: 4, std: 0.1 });
      m.addAdapter({ type: 'lora', r: 4, dropout: 0.2, seed: 2 });
      return m;
    };
    // uninterrupted
    await using a = await fresh();
    const full = await new Trainer(a, options).fit(EXAMPLES);
    // interrupted at step 5, then resumed in a new model (as after a crash)
    const dir = tmpDir('ckpt');
    await using b = await fresh();
    const controller = new AbortController();
    const err = await new Trainer(b, { ...options, checkpointDir: dir, checkpointEvery: 1 })
      .fit(EXAMPLES, { signal: controller.signal, onProgress: (p) => p.step === 5 && controller.abort() })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AbortError);
    await using c = await fresh();
    const resumed = await new Trainer(c, { ...options, checkpointDir: dir, checkpointEvery: 1, resume: true }).fit(EXAMPLES);
    expect(resumed.resumedFromStep).to.be.within(5, 6);
    expect(resumed.steps).to.equal(full.steps);
    expect(resumed.finalLoss).to.equal(full.finalLoss);
    const sa = a.native.tunerState();
    const sc = c.native.tunerState();
    for (const key of Object.keys(sa)) {
      expect(Buffer.from((sa[key].toArray() as Float32Array).buffer).equals(Buffer.from((sc[key].toArray() as Float32Array).buffer)), key).to.equal(true);
    }
  });

  it('refuses to resume from a state written for other options', async () => {
    const dir = tmpDir('ckpt2');
    await using m = await Model.random(SPEC);
    m.addAdapter({ type: 'lora' });
    await new Trainer(m, { epochs: 1, checkpointDir: dir }).fit(EXAMPLES);
    const err = await new Trainer(m, { epochs: 2, checkpointDir: dir, resume: true }).fit(EXAMPLES).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).file).to.match(/trainer-state\.safetensors$/);
  });
});
