/**
 * AdaLoRA against PEFT 0.21 (fixtures by scripts/fixtures/make_adalora_fixtures.py): logits,
 * gradients with the orthogonality regulariser, the rank mask after every step of a scripted
 * pruning schedule, PEFT's rank-pruned adapters, and PEFT loading ours; then training,
 * generation, save/load, checkpoint resume and option errors.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, Model, Tensor, Trainer, loadNative } from '../ts/index';
import { parseStreamConfig } from '../ts/stream/config';
import type { NativeTensor } from '../ts/native/bindings';
import { python, ROOT, tmpDir } from './helpers/run';
import { TINY_SPEC, QA_PAIRS, QA_EXAMPLES } from './helpers/tiny-model';

const FIX = path.join(ROOT, 'test', 'fixtures', 'adalora');
const QWEN = path.join(ROOT, 'test', 'fixtures', 'decoder', 'qwen2', 'model');

interface Step {
  step: number;
  budget: number;
  rank_pattern: Record<string, boolean[]> | null;
}
interface Cases {
  ids: number[][];
  labels: number[][];
  loss_total: number;
  lr: number;
  steps: Step[];
}

const f32 = (t: NativeTensor | Tensor) => t.toArray() as Float32Array;
const maskOf = (t: NativeTensor) => Array.from(t.toArray() as Uint8Array, (b) => b !== 0);

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function expectClose(actual: Float32Array, expected: Float32Array, atol: number, rtol: number, what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (Math.abs(actual[i] - expected[i]) > tol) expect.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
  }
}

const ids2d = (rows: number[][]) => Tensor.fromArray(BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

/** The rank masks the native tuner holds, module → kept triplets. */
function masks(model: Model): Record<string, boolean[]> {
  const state = model.native.tunerState();
  const out: Record<string, boolean[]> = {};
  for (const [k, t] of Object.entries(state)) {
    if (k.startsWith('adalora.mask.')) out[k.slice('adalora.mask.'.length)] = maskOf(t);
    t.dispose();
  }
  return out;
}

describe('AdaLoRA', function () {
  this.timeout(120_000);
  let cases: Cases;
  let tensors: Record<string, NativeTensor>;
  let model: Model;

  before(async () => {
    cases = JSON.parse(fs.readFileSync(path.join(FIX, 'cases.json'), 'utf8'));
    tensors = await loadNative().safetensors.load(path.join(FIX, 'cases.safetensors'));
    model = await Model.load(QWEN);
  });
  after(async () => {
    await model.dispose();
    for (const t of Object.values(tensors)) t.dispose();
  });
  afterEach(() => {
    if (model.tuner) model.removeAdapter();
  });

  describe('parity with PEFT', () => {
    it('reproduces PEFT logits, loss (with the orthogonality regulariser) and gradients', async () => {
      await model.loadAdapter(path.join(FIX, 'adapter-init'));
      expect(model.tuner).to.include({ type: 'adalora', initR: 4, targetR: 2, alpha: 8, totalStep: 10, tinit: 2, tfinal: 2, deltaT: 2 });
      const logits = f32(await model.forward(ids2d(cases.ids)));
      expect(maxDiff(logits, f32(tensors.logits_init))).to.be.below(1e-4);
      const r = await model.native.lossAndGradients(ids2d(cases.ids).native, ids2d(cases.labels).native);
      expect(Math.abs(r.loss - cases.loss_total)).to.be.below(1e-5);
      const keys = Object.keys(r.gradients);
      expect(keys).to.have.length(18); // 2 layers × (q, v, down) × (A, E, B)
      for (const key of keys) expectClose(f32(r.gradients[key]), f32(tensors[`grad.${key}`]), 1e-5, 1e-4, key);
    });

    it('prunes the same triplets as PEFT after every step of a scripted schedule (AdamW, same batch)', async () => {
      const examples = cases.ids.map((ids, i) => ({ inputIds: ids, labels: cases.labels[i] }));
      const train = { batchSize: 4, learningRate: cases.lr, lrScheduler: 'constant' as const, maxGradNorm: 0, weightDecay: 0, warmupSteps: 0 };
      for (const s of cases.steps) {
        // a fresh adapter trained for step+1 steps (one per epoch) lands where PEFT was after `step`
        await model.loadAdapter(path.join(FIX, 'adapter-init'));
        await model.native.train(examples, { ...train, epochs: s.step + 1 });
        const ours = masks(model);
        const expected = s.rank_pattern ?? Object.fromEntries(Object.keys(ours).map((k) => [k, [true, true, true, true]]));
        expect(ours, `rank mask after step ${s.step}`).to.deep.equal(expected);
        const maskStep = s.step > 2 && (s.step % 2 === 0 || s.step >= 8); // tinit 2, deltaT 2, totalStep − tfinal 8
        if (maskStep) expect(Object.values(ours).flat().filter(Boolean).length, `budget at step ${s.step}`).to.be.at.most(s.budget);
        if (s.step === cases.steps.length - 1) {
          const state = model.native.tunerState();
          for (const [k, t] of Object.entries(state)) {
            if (!k.startsWith('adalora.')) expectClose(f32(t), f32(tensors[`params_final.${k}`]), 2e-4, 1e-3, k);
            t.dispose();
          }
        }
        model.removeAdapter();
      }
    });

    it("loads PEFT's rank-pruned adapter (rank_pattern, a rank-0 module too) and reproduces its logits", async () => {
      await model.loadAdapter(path.join(FIX, 'adapter-trained'));
      const last = cases.steps[cases.steps.length - 1];
      expect(masks(model)).to.deep.equal(last.rank_pattern);
      expect(maxDiff(f32(await model.forward(ids2d(cases.ids))), f32(tensors.logits_trained))).to.be.below(1e-4);
    });

    it('PEFT loads our trained, pruned adapter and gives our logits; we reload it identically', async () => {
      model.addAdapter({ type: 'adalora', initR: 4, targetR: 2, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], tinit: 1, tfinal: 2, deltaT: 1, totalStep: 8, seed: 3 });
      const examples = cases.ids.map((ids, i) => ({ inputIds: ids, labels: cases.labels[i] }));
      // 8 steps: the mask is fixed at the target budget at step 6 (totalStep − tfinal)
      await model.native.train(examples, { batchSize: 2, epochs: 4, learningRate: 2e-2, lrScheduler: 'constant' });
      const before = masks(model);
      expect(Object.values(before).flat().filter(Boolean).length).to.equal(2 * 6);
      const dir = tmpDir('adalora-ours');
      await model.saveAdapter(dir);
      const ours = f32(await model.forward(ids2d(cases.ids)));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      expect(config).to.include({ peft_type: 'ADALORA', init_r: 4, target_r: 2, lora_alpha: 8, total_step: 8, rank_pattern: null });
      expect(config.continual_next.rank_mask).to.deep.equal(before);
      model.removeAdapter();
      await model.loadAdapter(dir);
      expect(masks(model)).to.deep.equal(before);
      expect(maxDiff(f32(await model.forward(ids2d(cases.ids))), ours)).to.equal(0);
      const out = python(
        `
import json, sys, torch
from transformers import AutoModelForCausalLM
from peft import PeftModel
base = AutoModelForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager")
model = PeftModel.from_pretrained(base, sys.argv[2]).eval()
with torch.no_grad():
    print(json.dumps(model(input_ids=torch.tensor(json.loads(sys.argv[3]))).logits.flatten().tolist()))
`,
        [QWEN, dir, JSON.stringify(cases.ids)],
      );
      const theirs = Float32Array.from(JSON.parse(out.trim().split('\n').pop()!) as number[]);
      expect(maxDiff(ours, theirs)).to.be.below(1e-4);
    });
  });

  describe('training', () => {
    const SPEC = TINY_SPEC;
    const PAIRS = QA_PAIRS;
    const EXAMPLES = QA_EXAMPLES;
    const ADALORA = { type: 'adalora' as const, initR: 8, targetR: 4, alpha: 16, tinit: 10, tfinal: 30, deltaT: 5, totalStep: 120, dropout: 0.1, seed: 1 };

    it('lowers the loss, prunes to the target budget, memorises the pairs and generates them', async () => {
      await using m = await Model.random(SPEC, { seed: 3, std: 0.1 });
      m.addAdapter(ADALORA);
      const losses: number[] = [];
      const s = await new Trainer(m, { epochs: 60, batchSize: 2, learningRate: 2e-2, lrScheduler: 'cosine', warmupSteps: 5, seed: 1 }).fit(EXAMPLES, {
        onProgress: (p) => losses.push(p.loss),
      });
      expect(s.steps).to.equal(120);
      expect(losses[losses.length - 1]).to.be.below(losses[0] / 5);
      const kept = Object.values(masks(m)).flat().filter(Boolean).length;
      expect(kept).to.equal(4 * 7 * 2); // targetR × 7 projections × 2 layers
      const out = await m.native.generate(PAIRS.map((p) => p.q), { maxNewTokens: 8, eosTokenIds: ['1'], padTokenId: 0 });
      expect(out).to.deep.equal(PAIRS.map((p) => p.a));
    });

    it('a run interrupted and resumed from its checkpoint (masks and EMAs included) equals an uninterrupted one', async () => {
      const options = { epochs: 8, batchSize: 1, gradientAccumulation: 2, learningRate: 1e-2, seed: 9 };
      const tuner = { ...ADALORA, tinit: 2, tfinal: 4, deltaT: 2, totalStep: 16 };
      await using a = await Model.random(SPEC, { seed: 4, std: 0.1 });
      a.addAdapter(tuner);
      const full = await new Trainer(a, options).fit(EXAMPLES);
      const dir = tmpDir('adalora-ckpt');
      await using b = await Model.random(SPEC, { seed: 4, std: 0.1 });
      b.addAdapter(tuner);
      const controller = new AbortController();
      const err = await new Trainer(b, { ...options, checkpointDir: dir, checkpointEvery: 1 })
        .fit(EXAMPLES, { signal: controller.signal, onProgress: (p) => p.step === 7 && controller.abort() })
        .catch((e: unknown) => e);
      expect(err).to.be.an('error');
      await using c = await Model.random(SPEC, { seed: 4, std: 0.1 });
      c.addAdapter(tuner);
      const resumed = await new Trainer(c, { ...options, checkpointDir: dir, checkpointEvery: 1, resume: true }).fit(EXAMPLES);
      expect(resumed.resumedFromStep).to.be.within(7, 8);
      expect(resumed.finalLoss).to.equal(full.finalLoss);
      const sa = a.native.tunerState();
      const sc = c.native.tunerState();
      expect(Object.keys(sc)).to.deep.equal(Object.keys(sa));
      for (const key of Object.keys(sa)) {
        expect(Buffer.from(sa[key].toArray().buffer).equals(Buffer.from(sc[key].toArray().buffer)), key).to.equal(true);
      }
    });
  });

  describe('options', () => {
    const bad = (options: Record<string, unknown>, field: RegExp) => {
      let err: unknown;
      try {
        model.addAdapter({ type: 'adalora', totalStep: 10, ...options } as never);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(options)).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).field, JSON.stringify(options)).to.match(field);
    };

    it('rejects bad options with a ConfigError naming the field', () => {
      bad({ totalStep: undefined }, /^tuner\.totalStep$/);
      bad({ initR: 0 }, /^tuner\.initR$/);
      bad({ initR: 4, targetR: 6 }, /^tuner\.targetR$/);
      bad({ tinit: 5, tfinal: 5 }, /^tuner\.tinit$/);
      bad({ beta1: 1 }, /^tuner\.beta1$/);
      bad({ orthRegWeight: -1 }, /^tuner\.orthRegWeight$/);
      bad({ deltaT: 0 }, /^tuner\.deltaT$/);
      bad({ bogus: 1 }, /^tuner\.bogus$/);
      expect(model.tuner).to.equal(undefined);
      // the native side checks on its own too (the TS layer is not the only guard)
      expect(() => model.native.addTuner('adalora', { totalStep: 10, targetR: 20, initR: 4 })).to.throw(/targetR/);
      expect(() => model.native.addTuner('adalora', {})).to.throw(/totalStep/);
      expect(() => model.addAdapter({ type: 'adalora', totalStep: 10, targetModules: ['nope'] })).to.throw(ConfigError, /targetModules/);
    });

    it('stream configs accept AdaLoRA and adapter tuners with defaults, and name bad fields', () => {
      const base = { model: 'm', tasks: [{ name: 'a', train: 't.jsonl', test: 't.jsonl' }] };
      expect(parseStreamConfig({ ...base, tuner: { type: 'adalora', totalStep: 50 } }).tuner).to.include({ initR: 12, targetR: 8, beta1: 0.85, orthRegWeight: 0.5 });
      expect(parseStreamConfig({ ...base, tuner: { type: 'adapter' } }).tuner).to.include({ bottleneckDim: 64, activation: 'relu', placement: 'both' });
      const field = (tuner: unknown) => {
        try {
          parseStreamConfig({ ...base, tuner });
        } catch (e) {
          expect(e).to.be.instanceOf(ConfigError);
          return (e as ConfigError).field;
        }
        return 'no error';
      };
      expect(field({ type: 'adalora' })).to.equal('tuner.totalStep');
      expect(field({ type: 'adalora', totalStep: 5, initR: 2, targetR: 3 })).to.equal('tuner.targetR');
      expect(field({ type: 'adapter', placement: 'top' })).to.equal('tuner.placement');
    });

    it('refuses an adapter whose tensors do not fit, naming the tensor', async () => {
      const dir = tmpDir('adalora-bad');
      fs.copyFileSync(path.join(FIX, 'adapter-init', 'adapter_model.safetensors'), path.join(dir, 'adapter_model.safetensors'));
      const config = JSON.parse(fs.readFileSync(path.join(FIX, 'adapter-init', 'adapter_config.json'), 'utf8'));
      fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...config, init_r: 3, target_r: 2 }));
      const err = await model.loadAdapter(dir).catch((e: unknown) => e);
      expect((err as Error).message).to.match(/lora_A' has shape \[4, 64\], expected \[3, 64\]/);
      expect(model.tuner).to.equal(undefined);
      fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...config, total_step: 0 }));
      const err2 = await model.loadAdapter(dir).catch((e: unknown) => e);
      expect(err2).to.be.instanceOf(ConfigError);
      expect((err2 as ConfigError).field).to.equal('total_step');
    });
  });
});
