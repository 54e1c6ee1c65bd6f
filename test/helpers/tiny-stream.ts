/**
 * A tiny stream for runner tests: a random Qwen2 saved by Python transformers with the small
 * real BPE tokenizer fixture, and three tasks of six QA pairs whose answers shift per task.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { StreamConfigInput } from '../../ts/index';
import { python, ROOT } from './run';

const TOKENIZER = path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'tiny-bpe');

export function makeTinyModel(dir: string): void {
  python(
    `
import sys, torch
from transformers import Qwen2Config, Qwen2ForCausalLM
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=400, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=64, tie_word_embeddings=True, eos_token_id=2, pad_token_id=3)
Qwen2ForCausalLM(cfg).save_pretrained(sys.argv[1], safe_serialization=True)
`,
    [dir],
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZER, f), path.join(dir, f));
}

export function writeTinyTasks(dir: string): StreamConfigInput['tasks'] {
  const words = ['red', 'blue', 'green', 'gold', 'grey', 'pink'];
  return ['one', 'two', 'three'].map((name, t) => {
    const line = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
    const train = words.map((w, i) => line(`what is item ${i} in ${name}?`, words[(i + t) % words.length]));
    const test = words.slice(0, 3).map((w, i) => line(`tell me item ${i} in ${name}`, words[(i + t) % words.length]));
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, 'train.jsonl'), train.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, name, 'test.jsonl'), test.join('\n') + '\n');
    return { name, train: `${name}/train.jsonl`, test: `${name}/test.jsonl` };
  });
}

/** Model and tasks under `root`; the config's paths are relative to a config file in `root`. */
export function makeTinyStream(root: string): StreamConfigInput {
  makeTinyModel(path.join(root, 'model'));
  return {
    name: 'tiny stream',
    model: 'model',
    chatTemplate: 'chatml',
    tuner: { type: 'lora', r: 4, alpha: 8, dropout: 0 },
    methods: [{ name: 'seqft' }],
    tasks: writeTinyTasks(root),
    training: { epochs: 2, batchSize: 2, learningRate: 1e-2 },
    generation: { maxNewTokens: 4 },
    seeds: [1],
    scorers: ['contains', 'token-f1'],
    output: 'out',
  };
}
