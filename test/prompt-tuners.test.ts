/**
 * The virtual-token tuners (Prompt-Tuning, Prefix-Tuning with and without the projection MLP,
 * P-Tuning with an MLP or LSTM encoder) against PEFT 0.21 on the tiny random Qwen2 and LLaMA
 * decoders: logits of a right-padded batch, the loss and the gradient of every trainable tensor,
 * greedy generation (ours batched and left-padded, PEFT's one prompt at a time), PEFT loading our
 * trained adapters; then training, save/load, checkpoint resume and option errors.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { AbortError, ConfigError, loadSafetensors, Model, ModelLoadError, Tensor, Trainer } from '../ts/index';
import type { TunerOptions } from '../ts/index';
import { python, ROOT, run, tmpDir } from './helpers/run';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'decoder');
const base = (m: string) => path.join(FIXTURES, m, 'model');

/** Our options for each PEFT case of scripts/fixtures/make_prompt_fixtures.py (N = 4 there). */
const CASES: Record<string, TunerOptions> = {
  prompt: { type: 'prompt', numVirtualTokens: 4 },
  prefix: { type: 'prefix', numVirtualTokens: 4 },
  'prefix-projection': { type: 'prefix', numVirtualTokens: 4, projection: true, encoderHiddenSize: 24 },
  'ptuning-mlp': { type: 'ptuning', numVirtualTokens: 4, encoderHiddenSize: 24 },
  'ptuning-lstm': { type: 'ptuning', numVirtualTokens: 4, encoderType: 'LSTM', encoderHiddenSize: 12, encoderNumLayers: 2 },
};

interface Fixtures {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
  genPrompts: number[][];
  genNewTokens: number;
  eosTokenId: number;
  models: Record<string, { cases: Record<string, { loss: number; generations: number[][] }> }>;
}

const int64 = (rows: number[][]) => Tensor.fromArray(BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
const f32 = (t: Tensor) => t.toArray() as Float32Array;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Logits [B, S, V] restricted to the positions the mask marks real. */
function realPositions(logits: Float32Array, mask: number[][], vocab: number): number[] {
  const out: number[] = [];
  const S = mask[0].length;
  mask.forEach((row, b) => row.forEach((m, s) => m && out.push(...logits.subarray((b * S + s) * vocab, (b * S + s + 1) * vocab))));
  return out;
}

let dir = '';
let fx: Fixtures;

before(function () {
  this.timeout(180_000);
  dir = tmpDir('prompt-fixtures');
  const r = run('python3', [path.join(ROOT, 'scripts', 'fixtures', 'make_prompt_fixtures.py'), '--out', dir], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`make_prompt_fixtures.py failed:\n${r.stderr}`);
  fx = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8'));
});

describe('virtual-token tuners: parity with PEFT', () => {
  for (const modelName of ['qwen2', 'llama']) {
    for (const [caseName, options] of Object.entries(CASES)) {
      it(`${modelName} ${caseName}: logits, loss, gradients, generation`, async () => {
        const caseDir = path.join(dir, modelName, caseName);
        const expected = await loadSafetensors(path.join(caseDir, 'expect.safetensors'));
        await using model = await Model.load(base(modelName));
        const V = model.spec.vocabSize;
        const ids = int64(fx.inputIds);
        const mask = int64(fx.attentionMask);
        const labels = int64(fx.labels);

        // the adapter matters: the base model's logits are far from PEFT's
        const theirs = f32(expected.logits);
        const plain = f32(await model.forward(ids, mask));
        expect(maxAbsDiff(realPositions(plain, fx.attentionMask, V), realPositions(theirs, fx.attentionMask, V)), 'base vs adapter').to.be.above(0.05);

        // the training-side tensors (the prompt encoder itself) → loss and gradients
        model.addAdapter(options);
        const state = await loadSafetensors(path.join(caseDir, 'state.safetensors'));
        model.native.loadTunerState(Object.fromEntries(Object.entries(state).map(([k, t]) => [k, t.native])), 'state.safetensors');
        const ours = f32(await model.forward(ids, mask));
        expect(maxAbsDiff(realPositions(ours, fx.attentionMask, V), realPositions(theirs, fx.attentionMask, V)), 'logits').to.be.below(1e-4);
        const lg = await model.native.lossAndGradients(ids.native, labels.native, mask.native);
        expect(lg.loss).to.be.closeTo(fx.models[modelName].cases[caseName].loss, 1e-5);
        const gradNames = Object.keys(expected).filter((k) => k.startsWith('grad.')).map((k) => k.slice(5));
        expect(Object.keys(lg.gradients).sort()).to.deep.equal(gradNames.sort());
        for (const name of gradNames) {
          const g = new Tensor(lg.gradients[name]).toArray() as Float32Array;
          const e = f32(expected[`grad.${name}`]);
          expect(maxAbs(e), `gradient ${name} is not zero`).to.be.above(1e-6);
          expect(maxAbsDiff(g, e) / maxAbs(e), `gradient ${name}`).to.be.below(1e-4);
        }

        // PEFT's saved adapter (the encoder's output) → same logits, same greedy tokens
        await model.loadAdapter(path.join(caseDir, 'peft'));
        expect(model.tuner?.type).to.equal(options.type);
        const loaded = f32(await model.forward(ids, mask));
        expect(maxAbsDiff(realPositions(loaded, fx.attentionMask, V), realPositions(theirs, fx.attentionMask, V)), 'logits after loadAdapter').to.be.below(1e-4);
        const gens = await model.native.generate(fx.genPrompts, { maxNewTokens: fx.genNewTokens, eosTokenIds: [String(fx.eosTokenId)], padTokenId: 0 });
        expect(gens).to.deep.equal(fx.models[modelName].cases[caseName].generations);
      });
    }
  }
});
