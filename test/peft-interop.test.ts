/** PEFT loads an adapter we trained and saved, and reproduces our logits. */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { Model, Tensor } from '../ts/index';
import { python, ROOT, tmpDir } from './helpers/run';

const QWEN = path.join(ROOT, 'test', 'fixtures', 'decoder', 'qwen2', 'model');

describe('PEFT interop', () => {
  it('PEFT loads our trained LoRA adapter (rsLoRA too) and gives our logits', async () => {
    const ids = [[5, 9, 44, 17, 250, 3, 8, 99]];
    const saved: { dir: string; ours: Float32Array; rslora: boolean }[] = [];
    for (const rslora of [false, true]) {
      await using model = await Model.load(QWEN);
      model.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0, rslora, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 7 });
      // a few steps so lora_B is no longer zero
      const examples = [0, 1, 2, 3].map((r) => {
        const ids = Array.from({ length: 10 }, (_, j) => 2 + ((r * 37 + j * 11) % 300));
        return { inputIds: ids, labels: ids.map((t, j) => (j < 4 ? -100 : t)) };
      });
      await model.native.train(examples, { batchSize: 2, epochs: 2, learningRate: 5e-2, lrScheduler: 'constant' });
      const dir = tmpDir('ours-adapter');
      await model.saveAdapter(dir);
      const flat = BigInt64Array.from(ids.flat().map(BigInt));
      const ours = (await model.forward(Tensor.fromArray(flat, [1, 8]))).toArray() as Float32Array;
      saved.push({ dir, ours, rslora });
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      expect(config.use_rslora).to.equal(rslora);
      expect(config.target_modules).to.deep.equal(['down_proj', 'q_proj', 'v_proj']);
    }
    // one Python process checks both adapters (importing transformers is the slow part)
    const out = python(
        `
import json, sys, torch
from transformers import AutoModelForCausalLM
from peft import PeftModel
results = []
for adapter in sys.argv[3:]:
    base = AutoModelForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager")
    model = PeftModel.from_pretrained(base, adapter).eval()
    with torch.no_grad():
        results.append(model(input_ids=torch.tensor(json.loads(sys.argv[2]))).logits.flatten().tolist())
print(json.dumps(results))
`,
      [QWEN, JSON.stringify(ids), ...saved.map((s) => s.dir)],
    );
    const theirs = JSON.parse(out.trim().split('\n').pop()!) as number[][];
    saved.forEach(({ ours, rslora }, k) => {
      expect(theirs[k].length).to.equal(ours.length);
      let max = 0;
      for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i] - theirs[k][i]));
      expect(max, `rslora=${rslora}`).to.be.below(1e-4);
    });
  });
});
