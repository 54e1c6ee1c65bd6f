/**
 * InternLM2 and Baichuan2 layouts, checked by repacking the LLaMA fixture's weights into their
 * checkpoint formats (InternLM2: wqkv grouped per KV head as [q×G, k, v]; Baichuan2: W_pack =
 * [q; k; v]) and requiring the LLaMA fixture's HF logits.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { Model, Tensor, loadNative } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { ROOT, tmpDir } from './helpers/run';

const LLAMA = path.join(ROOT, 'test', 'fixtures', 'decoder', 'llama');

function rows(t: NativeTensor): Float32Array {
  return t.toArray() as Float32Array;
}

/** Concatenates row blocks: each block is [rows × cols] float32. */
function concatRows(blocks: Float32Array[]): Float32Array {
  const out = new Float32Array(blocks.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of blocks) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

async function writeRepacked(kind: 'internlm2' | 'baichuan'): Promise<string> {
  const native = loadNative();
  const config = JSON.parse(fs.readFileSync(path.join(LLAMA, 'model', 'config.json'), 'utf8'));
  const src = await native.safetensors.load(path.join(LLAMA, 'model', 'model.safetensors'));
  const H = config.hidden_size as number;
  const Hq = config.num_attention_heads as number;
  const Hkv = config.num_key_value_heads as number;
  const D = H / Hq;
  const G = Hq / Hkv;
  const out: Record<string, NativeTensor> = {};
  const put = (name: string, data: Float32Array, shape: number[]) => {
    out[name] = native.Tensor.fromArray(data, shape);
  };
  const copy = (to: string, from: string) => put(to, rows(src[from]), src[from].shape);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    const q = rows(src[`${p}self_attn.q_proj.weight`]);
    const k = rows(src[`${p}self_attn.k_proj.weight`]);
    const v = rows(src[`${p}self_attn.v_proj.weight`]);
    const head = (w: Float32Array, h: number) => w.subarray(h * D * H, (h + 1) * D * H);
    if (kind === 'internlm2') {
      const blocks: Float32Array[] = [];
      for (let g = 0; g < Hkv; g++) {
        for (let j = 0; j < G; j++) blocks.push(head(q, g * G + j));
        blocks.push(head(k, g), head(v, g));
      }
      put(`${p}attention.wqkv.weight`, concatRows(blocks), [(Hq + 2 * Hkv) * D, H]);
      copy(`${p}attention.wo.weight`, `${p}self_attn.o_proj.weight`);
      copy(`${p}feed_forward.w1.weight`, `${p}mlp.gate_proj.weight`);
      copy(`${p}feed_forward.w3.weight`, `${p}mlp.up_proj.weight`);
      copy(`${p}feed_forward.w2.weight`, `${p}mlp.down_proj.weight`);
      copy(`${p}attention_norm.weight`, `${p}input_layernorm.weight`);
      copy(`${p}ffn_norm.weight`, `${p}post_attention_layernorm.weight`);
    } else {
      put(`${p}self_attn.W_pack.weight`, concatRows([q, k, v]), [(Hq + 2 * Hkv) * D, H]);
      for (const n of ['self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) copy(`${p}${n}.weight`, `${p}${n}.weight`);
      copy(`${p}input_layernorm.weight`, `${p}input_layernorm.weight`);
      copy(`${p}post_attention_layernorm.weight`, `${p}post_attention_layernorm.weight`);
    }
  }
  copy('model.norm.weight', 'model.norm.weight');
  if (kind === 'internlm2') {
    copy('model.tok_embeddings.weight', 'model.embed_tokens.weight');
    copy('output.weight', 'lm_head.weight');
  } else {
    copy('model.embed_tokens.weight', 'model.embed_tokens.weight');
    copy('lm_head.weight', 'lm_head.weight');
  }
  const dir = tmpDir(kind);
  const rope = config.rope_parameters?.rope_theta ?? config.rope_theta;
  const familyConfig =
    kind === 'internlm2'
      ? { model_type: 'internlm2', architectures: ['InternLM2ForCausalLM'], bias: false, rope_theta: rope }
      : { model_type: 'baichuan', architectures: ['BaichuanForCausalLM'], norm_head: false, use_alibi: false, rope_theta: rope };
  const common = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'rms_norm_eps', 'max_position_embeddings', 'tie_word_embeddings'];
  const cfg: Record<string, unknown> = { ...familyConfig };
  for (const key of common) cfg[key] = config[key];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  await native.safetensors.save(path.join(dir, 'model.safetensors'), out);
  return dir;
}

for (const kind of ['internlm2', 'baichuan'] as const) {
  describe(`${kind} layout`, () => {
    it('gives the LLaMA logits from repacked LLaMA weights, and LoRA targets its own module names', async () => {
      const native = loadNative();
      const cases = await native.safetensors.load(path.join(LLAMA, 'cases.safetensors'));
      await using model = await Model.load(await writeRepacked(kind));
      expect(model.spec.family).to.equal(kind);
      // the addon's forward on the fixture's own tensors (a Tensor wrapper would free them when collected)
      const logits = (await model.native.forward(cases.input_ids, cases.attention_mask)).toArray() as Float32Array;
      const ref = cases.logits.toArray() as Float32Array;
      const mask = Array.from(cases.attention_mask.toArray() as BigInt64Array, Number);
      let max = 0;
      for (let pos = 0; pos < mask.length; pos++) {
        if (!mask[pos]) continue;
        for (let v = 0; v < 320; v++) max = Math.max(max, Math.abs(logits[pos * 320 + v] - ref[pos * 320 + v]));
      }
      expect(max).to.be.below(1e-4);
      model.addAdapter({ type: 'lora', r: 2, alpha: 4 });
      const keys = Object.keys(model.native.tunerState());
      const packed = kind === 'internlm2' ? 'attention.wqkv' : 'self_attn.W_pack';
      expect(keys).to.include(`base_model.model.model.layers.0.${packed}.lora_A.weight`);
      expect(keys.length).to.equal(2 * 5 * 2); // 2 layers × 5 projections × (A, B)
    });
  });
}
