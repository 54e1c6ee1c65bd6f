/**
 * Houlsby bottleneck adapters: the model is unchanged at init, training memorises pairs and
 * generation works with each placement, save → load gives identical logits, checkpoint resume
 * equals an uninterrupted run, and bad options or tensors are named in errors.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, Model, ModelLoadError, Tensor, Trainer, loadNative } from '../ts/index';
import { tmpDir } from './helpers/run';
import { TINY_SPEC, QA_PAIRS, QA_EXAMPLES } from './helpers/tiny-model';

const SPEC = TINY_SPEC;
const PAIRS = QA_PAIRS;
const EXAMPLES = QA_EXAMPLES;
const IDS = [[2, 10, 11, 12, 3, 20, 21, 22], [2, 16, 17, 18, 3, 25, 26, 27]];
const ids2d = () => Tensor.fromArray(BigInt64Array.from(IDS.flat().map(BigInt)), [2, 8]);
const logitsOf = async (m: Model) => Buffer.from((await m.forward(ids2d())).toArray().buffer);

describe('Houlsby adapter', function () {
  this.timeout(60_000);

  it('leaves the model unchanged at init (zero up-projection): identical logits', async () => {
    await using m = await Model.random(SPEC, { seed: 3, std: 0.1 });
    const base = await logitsOf(m);
    m.addAdapter({ type: 'adapter', bottleneckDim: 8, activation: 'gelu' });
    expect((await logitsOf(m)).equals(base)).to.equal(true);
    // 2 layers × 2 places × (8·48 + 8 + 48·8 + 48)
    expect(m.parameterCount().trainable).to.equal(2 * 2 * (8 * 48 + 8 + 48 * 8 + 48));
    m.removeAdapter();
    m.addAdapter({ type: 'adapter', bottleneckDim: 8, placement: 'mlp' });
    expect(m.parameterCount().trainable).to.equal(2 * (8 * 48 + 8 + 48 * 8 + 48));
  });

  for (const placement of ['both', 'attention', 'mlp'] as const) {
    it(`memorises question → answer pairs and generates them (placement ${placement})`, async () => {
      await using m = await Model.random(SPEC, { seed: 3, std: 0.1 });
      m.addAdapter({ type: 'adapter', bottleneckDim: 16, activation: 'silu', placement, dropout: 0.05, seed: 2 });
      const losses: number[] = [];
      await new Trainer(m, { epochs: 60, batchSize: 2, learningRate: 1e-2, lrScheduler: 'cosine', warmupSteps: 5, seed: 1 }).fit(EXAMPLES, {
        onProgress: (p) => losses.push(p.loss),
      });
      // one adapter per layer learns more slowly than two
      expect(losses[losses.length - 1]).to.be.below(losses[0] / (placement === 'both' ? 5 : 3));
      if (placement === 'both') {
        const out = await m.native.generate(PAIRS.map((p) => p.q), { maxNewTokens: 8, eosTokenIds: ['1'], padTokenId: 0 });
        expect(out).to.deep.equal(PAIRS.map((p) => p.a));
      }
    });
  }

  it('save → load gives identical logits; the config and keys are our documented format', async () => {
    await using m = await Model.random(SPEC, { seed: 5, std: 0.1 });
    m.addAdapter({ type: 'adapter', bottleneckDim: 4, activation: 'tanh', placement: 'attention', seed: 4 });
    await new Trainer(m, { epochs: 3, batchSize: 2, learningRate: 1e-2 }).fit(EXAMPLES);
    const trained = await logitsOf(m);
    const dir = tmpDir('adapter');
    await m.saveAdapter(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).to.include({ peft_type: 'HOULSBY_ADAPTER', bottleneck_dim: 4, activation: 'tanh', placement: 'attention', dropout: 0 });
    const header = loadNative().safetensors.readHeader(path.join(dir, 'adapter_model.safetensors')) as { tensors: Record<string, { shape: number[] }> };
    expect(header.tensors['base_model.model.model.layers.1.attn_adapter.down_proj.weight'].shape).to.deep.equal([4, 48]);
    expect(header.tensors['base_model.model.model.layers.0.attn_adapter.up_proj.bias'].shape).to.deep.equal([48]);
    expect(Object.keys(header.tensors)).to.have.length(2 * 4);
    await using fresh = await Model.random(SPEC, { seed: 5, std: 0.1 });
    await fresh.loadAdapter(dir);
    expect(fresh.tuner).to.deep.equal({ type: 'adapter', bottleneckDim: 4, activation: 'tanh', placement: 'attention', dropout: 0, seed: 4 });
    expect((await logitsOf(fresh)).equals(trained)).to.equal(true);
  });

  it('a run interrupted and resumed from its checkpoint equals an uninterrupted one (dropout replayed)', async () => {
    const options = { epochs: 6, batchSize: 1, gradientAccumulation: 2, learningRate: 1e-2, seed: 9 };
    const fresh = async () => {
      const m = await Model.random(SPEC, { seed: 4, std: 0.1 });
      m.addAdapter({ type: 'adapter', bottleneckDim: 8, dropout: 0.2, seed: 2 });
      return m;
    };
    await using a = await fresh();
    const full = await new Trainer(a, options).fit(EXAMPLES);
    const dir = tmpDir('adapter-ckpt');
    await using b = await fresh();
    const controller = new AbortController();
    await new Trainer(b, { ...options, checkpointDir: dir, checkpointEvery: 1 })
      .fit(EXAMPLES, { signal: controller.signal, onProgress: (p) => p.step === 5 && controller.abort() })
      .catch(() => undefined);
    await using c = await fresh();
    const resumed = await new Trainer(c, { ...options, checkpointDir: dir, checkpointEvery: 1, resume: true }).fit(EXAMPLES);
    expect(resumed.resumedFromStep).to.be.within(5, 6);
    expect(resumed.finalLoss).to.equal(full.finalLoss);
    expect((await logitsOf(c)).equals(await logitsOf(a))).to.equal(true);
  });

  it('gradient checkpointing trains the same as keeping activations', async () => {
    const run = async (gradientCheckpointing: boolean) => {
      const m = await Model.random(SPEC, { seed: 8, std: 0.1 });
      m.addAdapter({ type: 'adapter', bottleneckDim: 8, dropout: 0.3, seed: 1 });
      const s = await new Trainer(m, { epochs: 3, batchSize: 2, learningRate: 1e-2, gradientCheckpointing, seed: 3 }).fit(EXAMPLES);
      return { m, s };
    };
    const a = await run(false);
    const b = await run(true);
    try {
      expect(b.s.finalLoss).to.be.closeTo(a.s.finalLoss, 1e-5);
    } finally {
      await Promise.all([a.m.dispose(), b.m.dispose()]);
    }
  });

  it('rejects bad options and mis-shaped tensors, naming the field or tensor', async () => {
    await using m = await Model.random(SPEC);
    const field = (options: Record<string, unknown>) => {
      try {
        m.addAdapter({ type: 'adapter', ...options } as never);
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as ConfigError).field;
      }
      return 'no error';
    };
    expect(field({ bottleneckDim: 0 })).to.equal('tuner.bottleneckDim');
    expect(field({ activation: 'softmax' })).to.equal('tuner.activation');
    expect(field({ placement: 'embeddings' })).to.equal('tuner.placement');
    expect(field({ dropout: 1 })).to.equal('tuner.dropout');
    expect(field({ r: 8 })).to.equal('tuner.r');
    expect(() => m.native.addTuner('adapter', { activation: 'softmax' })).to.throw(/tuner\.activation/);
    // an adapter saved with another bottleneck size
    const small = await Model.random(SPEC);
    small.addAdapter({ type: 'adapter', bottleneckDim: 4 });
    const dir = tmpDir('adapter-bad');
    await small.saveAdapter(dir);
    await small.dispose();
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...config, bottleneck_dim: 6 }));
    const err = await m.loadAdapter(dir).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as Error).message).to.match(/layers\.0\.attn_adapter\.down_proj\.weight' has shape \[4, 48\], expected \[6, 48\]/);
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...config, activation: 'swish' }));
    const err2 = await m.loadAdapter(dir).catch((e: unknown) => e);
    expect(err2).to.be.instanceOf(ConfigError);
    expect((err2 as ConfigError).field).to.equal('activation');
  });
});
