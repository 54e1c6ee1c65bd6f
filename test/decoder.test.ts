/**
 * Parity of the native decoder with HF transformers + PEFT on the committed fixtures
 * (test/fixtures/decoder, made by scripts/fixtures/make_decoder_fixtures.py).
 * Tolerances come from each fixture's cases.json (`tolerances`).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { DisposedError, Model, ModelLoadError, Tensor, loadNative } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { ROOT, tmpDir } from './helpers/run';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'decoder');

interface Cases {
  tensors: Record<string, NativeTensor>;
  /** One owning Tensor per fixture tensor (see tensor()). */
  wrapped: Map<string, Tensor>;
  json: {
    tolerances: Record<string, { atol?: number; rtol?: number }>;
    scalars: Record<string, number>;
    lora: { config: { r: number; lora_alpha: number } };
    generate: { max_new_tokens: number; pad_token_id: number; eos_token_id: number };
  };
}

async function readCases(name: string): Promise<Cases> {
  const dir = path.join(FIXTURES, name);
  return {
    tensors: await loadNative().safetensors.load(path.join(dir, 'cases.safetensors')),
    wrapped: new Map(),
    json: JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8')),
  };
}

/**
 * The fixture tensor `key` as a Tensor. A Tensor owns its native tensor and frees it when it is
 * collected, so each native one gets exactly one wrapper, kept alive by `cases`: a second,
 * short-lived wrapper would free the tensor under the first one's feet.
 */
function tensor(cases: Cases, key: string): Tensor {
  let t = cases.wrapped.get(key);
  if (!t) cases.wrapped.set(key, (t = new Tensor(cases.tensors[key])));
  return t;
}

const f32 = (t: NativeTensor | Tensor) => t.toArray() as Float32Array;
const i64 = (t: NativeTensor) => Array.from(t.toArray() as BigInt64Array, Number);

/** max |a − b| over [B, S, V] logits where mask[b, s] is 1. */
function maxDiffOnMask(a: Float32Array, b: Float32Array, mask: number[], vocab: number): number {
  let max = 0;
  for (let pos = 0; pos < mask.length; pos++) {
    if (!mask[pos]) continue;
    for (let v = 0; v < vocab; v++) max = Math.max(max, Math.abs(a[pos * vocab + v] - b[pos * vocab + v]));
  }
  return max;
}

function expectClose(actual: Float32Array, expected: Float32Array, atol: number, rtol: number, what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (Math.abs(actual[i] - expected[i]) > tol) {
      expect.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
    }
  }
}

/** Rows of a right-padded [B, S] batch as training examples (real tokens only). */
function examplesFrom(ids: number[], labels: number[], mask: number[], rows: number, seq: number) {
  const out = [];
  for (let r = 0; r < rows; r++) {
    const len = mask.slice(r * seq, (r + 1) * seq).reduce((a, b) => a + b, 0);
    out.push({ inputIds: ids.slice(r * seq, r * seq + len), labels: labels.slice(r * seq, r * seq + len) });
  }
  return out;
}

// The same cases on a GPU ([gpu]: float32 there too, so the CPU-made references and their
// tolerances hold; skipped without CUDA).
const PARITY_RUNS = [
  { name: 'qwen2', device: 'cpu' },
  { name: 'llama', device: 'cpu' },
  { name: 'qwen2', device: 'cuda' },
  { name: 'llama', device: 'cuda' },
];
for (const { name, device } of PARITY_RUNS) {
  describe(`decoder parity with transformers + PEFT: ${name}${device === 'cuda' ? ' on CUDA [gpu]' : ''}`, () => {
    let cases: Cases;
    let model: Model;
    const vocab = 320;

    before(async function () {
      if (device === 'cuda' && !loadNative().info().torch.cudaAvailable) this.skip();
      cases = await readCases(name);
      model = await Model.load(path.join(FIXTURES, name, 'model'), { device });
    });
    after(async () => {
      await model?.dispose();
    });

    it('reproduces the logits of a right-padded batch', async () => {
      const ids = tensor(cases, 'input_ids');
      const mask = tensor(cases, 'attention_mask');
      const logits = await model.forward(ids, mask);
      expect(logits.shape).to.deep.equal([3, 12, vocab]);
      const d = maxDiffOnMask(f32(logits), f32(cases.tensors.logits), i64(cases.tensors.attention_mask), vocab);
      expect(d).to.be.below(cases.json.tolerances.logits_fp32.atol!);
    });

    it('reproduces the logits of a left-padded batch (positions from the mask)', async () => {
      const logits = await model.forward(tensor(cases, 'left.input_ids'), tensor(cases, 'left.attention_mask'));
      const d = maxDiffOnMask(f32(logits), f32(cases.tensors['left.logits']), i64(cases.tensors['left.attention_mask']), vocab);
      expect(d).to.be.below(cases.json.tolerances.logits_fp32.atol!);
    });

    it('reproduces the masked causal-LM loss', async () => {
      const r = await model.native.lossAndGradients(cases.tensors.input_ids, cases.tensors.labels, cases.tensors.attention_mask);
      expect(Math.abs(r.loss - cases.json.scalars.loss)).to.be.below(cases.json.tolerances.loss_fp32.atol!);
    });

    it('greedy generation (left-padded batch, KV cache) equals HF generate', async () => {
      const promptIds = i64(cases.tensors['gen.prompt_ids']);
      const promptMask = i64(cases.tensors['gen.prompt_mask']);
      const expected = i64(cases.tensors['gen.base_output_ids']);
      const width = 7;
      const prompts = [0, 1, 2].map((r) => promptIds.slice(r * width, (r + 1) * width).filter((_, j) => promptMask[r * width + j] === 1));
      const g = cases.json.generate;
      const out = await model.native.generate(prompts, { maxNewTokens: g.max_new_tokens, eosTokenIds: [String(g.eos_token_id)], padTokenId: g.pad_token_id });
      for (let r = 0; r < 3; r++) expect(out[r], `row ${r}`).to.deep.equal(expected.slice(r * 15 + width, (r + 1) * 15));
    });

    describe('LoRA', () => {
      const adapterDir = () => path.join(FIXTURES, name, 'lora-adapter');

      beforeEach(async () => {
        await model.loadAdapter(adapterDir());
      });
      afterEach(() => {
        if (model.tuner) model.removeAdapter();
      });

      it('loads a PEFT-saved adapter and reproduces PEFT logits and loss', async () => {
        const logits = await model.forward(tensor(cases, 'input_ids'), tensor(cases, 'attention_mask'));
        const d = maxDiffOnMask(f32(logits), f32(cases.tensors['lora.logits']), i64(cases.tensors.attention_mask), vocab);
        expect(d).to.be.below(cases.json.tolerances.logits_fp32.atol!);
        const r = await model.native.lossAndGradients(cases.tensors.input_ids, cases.tensors.labels, cases.tensors.attention_mask);
        expect(Math.abs(r.loss - cases.json.scalars['lora.loss'])).to.be.below(cases.json.tolerances.loss_fp32.atol!);
      });

      it('computes the gradients of every LoRA matrix as PEFT does', async () => {
        const r = await model.native.lossAndGradients(cases.tensors.input_ids, cases.tensors.labels, cases.tensors.attention_mask);
        const tol = cases.json.tolerances.lora_grad_fp32;
        const keys = Object.keys(r.gradients);
        expect(keys.length).to.equal(Object.keys(cases.tensors).filter((k) => k.startsWith('lora.grad.')).length);
        for (const key of keys) expectClose(f32(r.gradients[key]), f32(cases.tensors[`lora.grad.${key}`]), tol.atol!, tol.rtol!, key);
      });

      it('takes one AdamW step exactly as torch.optim.AdamW', async () => {
        const ids = i64(cases.tensors.input_ids);
        const labels = i64(cases.tensors.labels);
        const mask = i64(cases.tensors.attention_mask);
        const examples = examplesFrom(ids, labels, mask, 3, 12);
        const summary = await model.native.train(examples, {
          batchSize: 3,
          epochs: 1,
          learningRate: 1e-2,
          lrScheduler: 'constant',
          weightDecay: 0.01,
          maxGradNorm: 0,
          groupByLength: false,
        });
        expect(summary.steps).to.equal(1);
        const state = model.native.tunerState();
        const tol = cases.json.tolerances.lora_step1_fp32;
        let moved = 0;
        for (const [key, t] of Object.entries(state)) {
          const actual = f32(t);
          const expected = f32(cases.tensors[`lora.step1.${key}`]);
          // AdamW's first step is ±lr·sign(g): compare with the stated tolerance, allowing the
          // few elements whose gradient is within float noise of 0 (cases.json notes this).
          for (let i = 0; i < actual.length; i++) {
            if (Math.abs(actual[i] - expected[i]) > tol.atol! + tol.rtol! * Math.abs(expected[i])) moved++;
          }
        }
        expect(moved).to.be.at.most(2);
        const after = await model.native.lossAndGradients(cases.tensors.input_ids, cases.tensors.labels, cases.tensors.attention_mask);
        expect(after.loss).to.be.closeTo(cases.json.scalars['lora.loss_after_step'], 1e-4);
      });

      it('greedy generation with the adapter equals PEFT generate', async () => {
        const promptIds = i64(cases.tensors['gen.prompt_ids']);
        const promptMask = i64(cases.tensors['gen.prompt_mask']);
        const expected = i64(cases.tensors['gen.lora_output_ids']);
        const prompts = [0, 1, 2].map((r) => promptIds.slice(r * 7, (r + 1) * 7).filter((_, j) => promptMask[r * 7 + j] === 1));
        const out = await model.native.generate(prompts, { maxNewTokens: 8, eosTokenIds: ['319'], padTokenId: 0 });
        for (let r = 0; r < 3; r++) expect(out[r], `row ${r}`).to.deep.equal(expected.slice(r * 15 + 7, (r + 1) * 15));
      });

      it('merge() folds the adapter into the weights with the same logits; unmerge() restores them', async () => {
        const ids = tensor(cases, 'input_ids');
        const mask = tensor(cases, 'attention_mask');
        const before = f32(await model.forward(ids, mask));
        model.merge();
        const merged = f32(await model.forward(ids, mask));
        model.unmerge();
        const after = f32(await model.forward(ids, mask));
        const m = i64(cases.tensors.attention_mask);
        expect(maxDiffOnMask(merged, before, m, vocab)).to.be.below(1e-4);
        expect(maxDiffOnMask(after, before, m, vocab)).to.be.below(1e-5);
      });

      it('save → load gives identical logits, and the saved adapter is PEFT-shaped', async () => {
        const out = tmpDir('adapter');
        await model.saveAdapter(out);
        const config = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
        expect(config.peft_type).to.equal('LORA');
        expect(config.r).to.equal(cases.json.lora.config.r);
        expect(config.lora_alpha).to.equal(cases.json.lora.config.lora_alpha);
        expect(config.target_modules).to.deep.equal(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
        const ids = tensor(cases, 'input_ids');
        const before = f32(await model.forward(ids));
        model.removeAdapter();
        await model.loadAdapter(out);
        const after = f32(await model.forward(ids));
        expect(Buffer.from(after.buffer).equals(Buffer.from(before.buffer))).to.equal(true);
      });
    });
  });
}

describe('decoder loading', () => {
  it('loads a sharded checkpoint and a bfloat16 checkpoint', async () => {
    const cases = await readCases('qwen2');
    const mask = i64(cases.tensors.attention_mask);
    await using sharded = await Model.load(path.join(FIXTURES, 'qwen2', 'model-sharded'));
    const a = f32(await sharded.forward(tensor(cases, 'input_ids'), tensor(cases, 'attention_mask')));
    expect(maxDiffOnMask(a, f32(cases.tensors.logits), mask, 320)).to.be.below(1e-4);
    await using bf16 = await Model.load(path.join(FIXTURES, 'qwen2', 'model-bf16'));
    const b = f32(await bf16.forward(tensor(cases, 'input_ids'), tensor(cases, 'attention_mask')));
    expect(maxDiffOnMask(b, f32(cases.tensors['bf16.logits']), mask, 320)).to.be.below(cases.json.tolerances.bf16_logits.atol!);
  });

  it('reports every missing, unexpected and mis-shaped tensor by name', async () => {
    const dir = tmpDir('badmodel');
    const src = path.join(FIXTURES, 'llama', 'model');
    fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
    const tensors = await loadNative().safetensors.load(path.join(src, 'model.safetensors'));
    delete tensors['model.layers.1.mlp.up_proj.weight'];
    tensors['model.layers.0.extra.weight'] = tensors['model.norm.weight'];
    tensors['model.layers.0.self_attn.q_proj.weight'] = tensors['model.layers.0.mlp.down_proj.weight'];
    await loadNative().safetensors.save(path.join(dir, 'model.safetensors'), tensors);
    let err: ModelLoadError | undefined;
    try {
      await Model.load(dir);
    } catch (e) {
      err = e as ModelLoadError;
    }
    expect(err).to.be.instanceOf(ModelLoadError);
    expect(err!.message).to.include("missing tensor 'model.layers.1.mlp.up_proj.weight'");
    expect(err!.message).to.include("unexpected tensor 'model.layers.0.extra.weight'");
    expect(err!.message).to.match(/tensor 'model\.layers\.0\.self_attn\.q_proj\.weight' has shape \[64, 160\], expected \[64, 64\]/);
    expect(err!.file).to.equal(dir);
  });

  it('disposing a model while generate() runs rejects that call with DisposedError (no partial result)', async () => {
    const model = await Model.load(path.join(FIXTURES, 'qwen2', 'model'));
    const run = model.native.generate([[5, 6, 7, 8]], { maxNewTokens: 100, eosTokenIds: [], padTokenId: 0 });
    await model.dispose();
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(DisposedError);
    expect((err as Error).message).to.match(/disposed while generate\(\) ran/);
  });

  it('refuses CUDA when it is not available, naming the device', async function () {
    if (loadNative().info().torch.cudaAvailable) this.skip();
    let err: Error | undefined;
    try {
      await Model.load(path.join(FIXTURES, 'qwen2', 'model'), { device: 'cuda' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.name).to.equal('DeviceError');
    expect(err?.message).to.match(/CUDA is not available/);
  });
});
