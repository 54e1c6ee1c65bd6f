/** MoELoRA on a tiny random model: equals LoRA with one expert, routes per token, trains, saves, resumes. */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { AbortError, ConfigError, Model, ModelLoadError, Random, Tensor, Trainer, parseStreamConfig, readSafetensorsHeader, saveSafetensors } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { tmpDir } from './helpers/run';
import { TINY_SPEC, QA_PAIRS, QA_EXAMPLES } from './helpers/tiny-model';

const SPEC = TINY_SPEC;

const PAIRS = QA_PAIRS;
const EXAMPLES = QA_EXAMPLES;
const IDS = [
  [5, 9, 44, 17, 25, 3, 8, 60],
  [7, 7, 1, 30, 2, 41, 12, 19],
];

const ids = () => Tensor.fromArray(BigInt64Array.from(IDS.flat().map(BigInt)), [IDS.length, IDS[0].length]);
const f32 = (t: { toArray(): unknown }) => t.toArray() as Float32Array;
const maxDiff = (x: Float32Array, y: Float32Array) => {
  expect(x.length).to.equal(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
};
const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const logitsOf = async (m: Model) => f32(await m.forward(ids()));

const numel = (t: NativeTensor) => t.shape.reduce((a, b) => a * b, 1);
/** Standard normal draws (Box–Muller over the package's seeded generator). */
function normals(seed: number): () => number {
  const rand = new Random(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rand.next())) * Math.cos(2 * Math.PI * rand.next());
}

/** A copy of a tensor state with some entries replaced by seeded normal values (× std). */
function withRandom(state: Record<string, NativeTensor>, pick: (key: string) => boolean, seed: number, std: number): Record<string, NativeTensor> {
  const normal = normals(seed);
  const out: Record<string, NativeTensor> = {};
  for (const [key, t] of Object.entries(state)) {
    if (!pick(key)) {
      out[key] = t;
      continue;
    }
    const data = Float32Array.from({ length: numel(t) }, () => normal() * std);
    out[key] = Tensor.fromArray(data, t.shape).native;
  }
  return out;
}

describe('MoELoRA', function () {
  this.timeout(60_000);

  it('with one expert equals LoRA of the same rank: identical logits and A/B gradients', async () => {
    await using lora = await Model.random(SPEC, { seed: 3, std: 0.1 });
    await using moe = await Model.random(SPEC, { seed: 3, std: 0.1 });
    lora.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 7 });
    moe.addAdapter({ type: 'moelora', experts: 1, r: 4, alpha: 8, dropout: 0, seed: 99 });
    // LoRA's A (its init) and a random B, loaded into both; MoELoRA's router gets random values
    // too: a softmax over one expert is 1 whatever they are
    const loraState = withRandom(lora.native.tunerState(), (k) => k.endsWith('lora_B.weight'), 1, 0.5);
    lora.native.loadTunerState(loraState);
    const moeState: Record<string, NativeTensor> = {};
    for (const [k, t] of Object.entries(loraState)) moeState[k.replace('.lora_', '.moelora_')] = t;
    const routers = withRandom(moe.native.tunerState(), (k) => k.endsWith('moelora_router.weight'), 2, 1);
    for (const [k, t] of Object.entries(routers)) if (k.endsWith('router.weight')) moeState[k] = t;
    moe.native.loadTunerState(moeState);

    const a = await logitsOf(lora);
    const b = await logitsOf(moe);
    expect(maxAbs(a)).to.be.above(0.1);
    // LoRA's low-rank products run on the fused CPU kernels (kernels/low_rank.h), MoELoRA's on
    // ATen: the same sums in a different order, so equal up to float32 rounding at the logits' scale
    expect(maxDiff(a, b)).to.be.at.most(1e-5 * Math.max(1, maxAbs(a)));

    const labels = Tensor.fromArray(BigInt64Array.from(IDS.flat().map((t, i) => BigInt(i % 8 < 3 ? -100 : t))), [2, 8]);
    const ga = await lora.native.lossAndGradients(ids().native, labels.native);
    const gb = await moe.native.lossAndGradients(ids().native, labels.native);
    expect(gb.loss).to.be.closeTo(ga.loss, 1e-6);
    let compared = 0;
    for (const [key, g] of Object.entries(ga.gradients)) {
      const mine = gb.gradients[key.replace('.lora_', '.moelora_')];
      const ref = f32(g);
      // tolerance relative to the gradient's scale: float32 sums in a different order at most
      expect(maxDiff(ref, f32(mine)), key).to.be.at.most(1e-5 * Math.max(1, maxAbs(ref)));
      compared++;
    }
    expect(compared).to.equal(2 * 7 * SPEC.numLayers);
    // the router of a single expert cannot change anything: its gradient is zero
    for (const [key, g] of Object.entries(gb.gradients)) if (key.endsWith('router.weight')) expect(maxAbs(f32(g)), key).to.equal(0);
  });

  it('starts equal to the base model (B = 0); the router gets gradients once B is non-zero', async () => {
    await using model = await Model.random(SPEC, { seed: 5, std: 0.1 });
    const base = await logitsOf(model);
    model.addAdapter({ type: 'moelora' });
    expect(model.tuner).to.deep.include({ type: 'moelora', experts: 4, r: 8, alpha: 32, dropout: 0.05 });
    expect(maxDiff(base, await logitsOf(model))).to.equal(0);
    const counts = model.parameterCount();
    // per projection: A [8, in] + B [out, 8] + router [4, in]
    const per = (i: number, o: number) => 8 * i + 8 * o + 4 * i;
    const H = 48, KV = 2 * 12, I = 96;
    expect(counts.trainable).to.equal(SPEC.numLayers * (per(H, H) + 2 * per(H, KV) + per(H, H) + 2 * per(H, I) + per(I, H)));
    expect(model.merge()).to.equal(false);

    const labels = Tensor.fromArray(BigInt64Array.from(IDS.flat().map(BigInt)), [2, 8]);
    const routerGrad = async () => {
      const { gradients } = await model.native.lossAndGradients(ids().native, labels.native);
      let router = 0;
      let b = 0;
      for (const [k, g] of Object.entries(gradients)) {
        if (k.endsWith('router.weight')) router = Math.max(router, maxAbs(f32(g)));
        if (k.endsWith('moelora_B.weight')) b = Math.max(b, maxAbs(f32(g)));
      }
      return { router, b };
    };
    const atInit = await routerGrad();
    expect(atInit.b).to.be.above(0);
    expect(atInit.router).to.equal(0);
    model.native.loadTunerState(withRandom(model.native.tunerState(), (k) => k.endsWith('moelora_B.weight'), 3, 0.5));
    expect((await routerGrad()).router).to.be.above(1e-6);
  });

  it('mixes experts with per-token router weights that sum to 1 (probed on lm_head, where the output is linear in B)', async () => {
    const E = 3;
    await using model = await Model.random(SPEC, { seed: 6, std: 0.1 });
    model.addAdapter({ type: 'moelora', experts: E, r: 6, alpha: 6, dropout: 0, targetModules: ['lm_head'] });
    const init = model.native.tunerState();
    const key = (what: string) => `base_model.model.lm_head.moelora_${what}.weight`;
    expect(Object.keys(init).sort()).to.deep.equal([key('A'), key('B'), key('router')]);
    const [V, r] = init[key('B')].shape;
    const normal = normals(11);
    const bFull = Float32Array.from({ length: V * r }, () => normal());
    const routerValues = Float32Array.from({ length: numel(init[key('router')]) }, () => normal() * 0.3); // soft gates: logits of std ~2
    const zeroRouter = Tensor.fromArray(new Float32Array(routerValues.length), init[key('router')].shape).native;
    const handRouter = Tensor.fromArray(routerValues, init[key('router')].shape).native;
    /** B with only expert `e`'s columns kept (all experts for e = -1). */
    const bOf = (e: number) => {
      const data = bFull.map((v, i) => (e < 0 || Math.floor((i % r) / (r / E)) === e ? v : 0));
      return Tensor.fromArray(data, [V, r]).native;
    };
    const deltaWith = async (b: NativeTensor, router: NativeTensor) => {
      model.native.loadTunerState({ [key('A')]: init[key('A')], [key('B')]: b, [key('router')]: router });
      const out = await logitsOf(model);
      return out.map((v, i) => v - base[i]);
    };
    const base = await logitsOf(model);
    const T = IDS.length * IDS[0].length;
    const gates: number[][] = Array.from({ length: T }, () => []);
    const routed: Float32Array[] = [];
    for (let e = 0; e < E; e++) {
      const uniform = await deltaWith(bOf(e), zeroRouter); // expert e's output × 1/E
      const mixed = await deltaWith(bOf(e), handRouter); // expert e's output × g_e(token)
      routed.push(mixed);
      for (let t = 0; t < T; t++) {
        let num = 0;
        let den = 0;
        for (let v = 0; v < V; v++) {
          num += mixed[t * V + v] * uniform[t * V + v];
          den += uniform[t * V + v] ** 2;
        }
        gates[t].push(num / (E * den)); // mixed / uniform = g_e / (1/E)
      }
    }
    let spread = 0;
    for (const g of gates) {
      expect(g.reduce((s, x) => s + x, 0)).to.be.closeTo(1, 1e-4);
      for (const x of g) expect(x).to.be.within(1e-4, 1 - 1e-4);
      spread = Math.max(spread, Math.max(...g) - Math.min(...g));
    }
    expect(spread, 'the hand-set router makes the gates non-uniform').to.be.above(0.2);
    // all experts at once = the sum of the routed experts
    const all = await deltaWith(bOf(-1), handRouter);
    const sum = routed[0].map((_, i) => routed.reduce((s, d) => s + d[i], 0));
    expect(maxDiff(all, sum)).to.be.below(1e-4);
  });

  it('trains: the loss falls, it memorises question → answer pairs and generates them; save → load gives identical logits', async () => {
    await using model = await Model.random(SPEC, { seed: 3, std: 0.1 });
    model.addAdapter({ type: 'moelora', experts: 4, r: 8, alpha: 16, dropout: 0.1, seed: 1 });
    const losses: number[] = [];
    const summary = await new Trainer(model, { epochs: 60, batchSize: 2, learningRate: 2e-2, lrScheduler: 'cosine', warmupSteps: 5, seed: 1 }).fit(EXAMPLES, {
      onProgress: (p) => losses.push(p.loss),
    });
    expect(summary.steps).to.equal(120);
    expect(losses[losses.length - 1]).to.be.below(losses[0] / 5);
    const out = await model.native.generate(
      PAIRS.map((p) => p.q),
      { maxNewTokens: 8, eosTokenIds: ['1'], padTokenId: 0 },
    );
    expect(out).to.deep.equal(PAIRS.map((p) => p.a));
    const state = model.native.tunerState();
    const routerKeys = Object.keys(state).filter((k) => k.endsWith('router.weight'));
    expect(routerKeys).to.have.length(7 * SPEC.numLayers);
    expect(Math.max(...routerKeys.map((k) => maxAbs(f32(state[k]))))).to.be.above(1e-3);

    const dir = tmpDir('moelora-adapter');
    await model.saveAdapter(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).to.deep.include({ peft_type: 'MOELORA', r: 8, num_experts: 4, lora_alpha: 16, lora_dropout: 0.1, use_rslora: false, router_init: 'zeros' });
    expect(config.target_modules).to.deep.equal(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    const q = header.tensors['base_model.model.model.layers.0.self_attn.q_proj.moelora_router.weight'];
    expect(q.shape).to.deep.equal([4, 48]);
    expect(header.tensors['base_model.model.model.layers.1.mlp.down_proj.moelora_A.weight'].shape).to.deep.equal([8, 96]);
    expect(header.tensors['base_model.model.model.layers.1.mlp.down_proj.moelora_B.weight'].shape).to.deep.equal([48, 8]);

    await using loaded = await Model.random(SPEC, { seed: 3, std: 0.1 });
    await loaded.loadAdapter(dir);
    expect(loaded.tuner).to.deep.include({ type: 'moelora', experts: 4, r: 8, alpha: 16, seed: 1 });
    expect(maxDiff(await logitsOf(model), await logitsOf(loaded))).to.equal(0);

    // a tensor of the wrong shape and a missing one are reported by name
    const bad = tmpDir('moelora-bad');
    fs.copyFileSync(path.join(dir, 'adapter_config.json'), path.join(bad, 'adapter_config.json'));
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(state)) {
      if (k.includes('layers.1.mlp.up_proj.moelora_A')) continue;
      tensors[k] = k.includes('layers.0.self_attn.q_proj.moelora_router') ? Tensor.fromArray(new Float32Array(3 * 48), [3, 48]) : new Tensor(t);
    }
    await saveSafetensors(path.join(bad, 'adapter_model.safetensors'), tensors);
    const err = await loaded.loadAdapter(bad).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as Error).message).to.include("tensor 'base_model.model.model.layers.0.self_attn.q_proj.moelora_router.weight' has shape [3, 48], expected [4, 48]");
    expect((err as Error).message).to.include("missing tensor 'base_model.model.model.layers.1.mlp.up_proj.moelora_A.weight'");
    // a config whose r is not divisible by num_experts
    fs.writeFileSync(path.join(bad, 'adapter_config.json'), JSON.stringify({ ...config, r: 6 }));
    const err2 = await loaded.loadAdapter(bad).catch((e: unknown) => e);
    expect(err2).to.be.instanceOf(ConfigError);
    expect((err2 as ConfigError).field).to.equal('r');
  });

  it('gradient checkpointing and resuming from a trainer checkpoint both equal the uninterrupted run (dropout replayed)', async () => {
    const options = { epochs: 4, batchSize: 1, gradientAccumulation: 2, learningRate: 1e-2, lrScheduler: 'cosine' as const, warmupSteps: 2, seed: 9 };
    const fresh = async () => {
      const m = await Model.random(SPEC, { seed: 4, std: 0.1 });
      m.addAdapter({ type: 'moelora', experts: 2, r: 4, dropout: 0.2, seed: 2 });
      return m;
    };
    const bytes = (m: Model) => {
      const s = m.native.tunerState();
      return Object.fromEntries(Object.entries(s).map(([k, t]) => [k, Buffer.from(f32(t).buffer)]));
    };
    await using a = await fresh();
    const full = await new Trainer(a, options).fit(EXAMPLES);
    const sa = bytes(a);

    const dir = tmpDir('moelora-ckpt');
    await using b = await fresh();
    const controller = new AbortController();
    const err = await new Trainer(b, { ...options, checkpointDir: dir, checkpointEvery: 1 })
      .fit(EXAMPLES, { signal: controller.signal, onProgress: (p) => p.step === 3 && controller.abort() })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AbortError);
    await using c = await fresh();
    const resumed = await new Trainer(c, { ...options, checkpointDir: dir, checkpointEvery: 1, resume: true }).fit(EXAMPLES);
    // the abort lands at step 3 or, on a busy machine, a few steps later; the run must not have finished
    expect(resumed.resumedFromStep).to.be.within(3, 7);
    expect(resumed.finalLoss).to.equal(full.finalLoss);
    const sc = bytes(c);
    for (const key of Object.keys(sa)) expect(sa[key].equals(sc[key]), key).to.equal(true);

    await using d = await fresh();
    const ckpt = await new Trainer(d, { ...options, gradientCheckpointing: true }).fit(EXAMPLES);
    expect(ckpt.finalLoss).to.be.closeTo(full.finalLoss, 1e-5);
    const sd = d.native.tunerState();
    const sa2 = a.native.tunerState();
    for (const key of Object.keys(sa2)) expect(maxDiff(f32(sa2[key]), f32(sd[key])), key).to.be.below(1e-5);
  });

  it('rejects bad options with a ConfigError naming the field', async () => {
    await using model = await Model.random(SPEC);
    const fieldOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return { field: (e as ConfigError).field, message: (e as Error).message };
      }
      throw new Error('no error thrown');
    };
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', r: 6, experts: 4 }))).to.deep.include({ field: 'tuner.r' });
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', experts: 0 })).field).to.equal('tuner.experts');
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', experts: 1.5 })).field).to.equal('tuner.experts');
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', dropout: 1 })).field).to.equal('tuner.dropout');
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', expert: 2 } as never)).field).to.equal('tuner.expert');
    // the native side checks the same on its own
    expect(fieldOf(() => model.native.addTuner('moelora', { r: 6, experts: 4 })).message).to.match(/tuner\.r \(6\) must be divisible by tuner\.experts \(4\)/);
    expect(fieldOf(() => model.native.addTuner('moelora', { experts: 0 })).field).to.equal('tuner.experts');
    expect(fieldOf(() => model.addAdapter({ type: 'moelora', targetModules: ['nope'] })).field).to.equal('tuner.targetModules');
    expect(model.tuner).to.equal(undefined);
    // the stream config accepts a moelora tuner and refuses an indivisible rank
    const stream = { model: 'm', tasks: [{ name: 't', train: 'a.jsonl', test: 'b.jsonl' }] };
    expect(parseStreamConfig({ ...stream, tuner: { type: 'moelora' } }).tuner).to.deep.include({ type: 'moelora', experts: 4, r: 8 });
    expect(() => parseStreamConfig({ ...stream, tuner: { type: 'moelora', r: 6 } })).to.throw(ConfigError, /tuner\.r/);
  });
});
