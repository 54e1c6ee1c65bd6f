/**
 * The embedded demo: the shipped model and stream under assets/demo load with our Model,
 * Tokenizer and dataset readers; the model's greedy answers equal transformers'; the stream
 * generator reproduces the shipped files byte for byte; and `demo --quick` runs the demo's
 * code path through the CLI and writes its results.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { generate, loadDataset, Model, Tokenizer } from '../ts/index';
import { DEMO_DIR, DEMO_YEARS } from '../ts/cli/commands/demo';
import { cli, python, run, ROOT, tmpDir } from './helpers/run';

const MODEL_DIR = path.join(DEMO_DIR, 'model');
const STREAM_DIR = path.join(DEMO_DIR, 'stream');

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

describe('embedded demo', function () {
  this.timeout(120_000);

  it('ships a small model directory that our Model and Tokenizer load', async () => {
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(fs.existsSync(path.join(MODEL_DIR, f)), f).to.equal(true);
    }
    expect(dirBytes(MODEL_DIR)).to.be.below(8 * 1024 * 1024);
    const tokenizer = await Tokenizer.fromDir(MODEL_DIR);
    const ids = tokenizer.encodeForGeneration([{ role: 'user', content: 'In 2023, who was the mayor of Brackenford?' }]);
    expect(tokenizer.decode(ids)).to.equal('<|im_start|>user\nIn 2023, who was the mayor of Brackenford?<|im_end|>\n<|im_start|>assistant\n');
    await using model = await Model.load(MODEL_DIR);
    expect(model.spec.family).to.equal('qwen2');
  });

  it('greedy answers of our engine equal transformers\' for the shipped model', async () => {
    const prompts = ['In 2024, who was the CEO of Velmora Systems?', 'How many people lived in Dunmere in 2022?', 'The Hallwick Otters had which captain in 2025?'];
    const tokenizer = await Tokenizer.fromDir(MODEL_DIR);
    await using model = await Model.load(MODEL_DIR);
    const promptIds = prompts.map((p) => tokenizer.encodeForGeneration([{ role: 'user', content: p }]));
    const ours = await generate(model, tokenizer, promptIds, { maxNewTokens: 12 });
    const reference = JSON.parse(
      python(
        `
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1]); model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
out = []
for p in json.loads(sys.argv[2]):
    ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    gen = model.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1]:].tolist()
    out.append({"prompt": ids[0].tolist(), "answer": gen})
print(json.dumps(out))
`,
        [MODEL_DIR, JSON.stringify(prompts)],
      ),
    ) as { prompt: number[]; answer: number[] }[];
    // transformers keeps the eos token in its output; ours stops before it
    const eos = new Set(tokenizer.eosTokenIds);
    const strip = (ids: number[]) => {
      const cut = ids.findIndex((t) => eos.has(t));
      return cut < 0 ? ids : ids.slice(0, cut);
    };
    expect(promptIds).to.deep.equal(reference.map((r) => r.prompt));
    expect(ours.every((g) => g.tokenIds.length > 0), 'the model answers something').to.equal(true);
    expect(ours.map((g) => strip(g.tokenIds))).to.deep.equal(reference.map((r) => strip(r.answer)));
  });

  it('ships four yearly tasks that our dataset readers parse, with labelled, paraphrased test questions', async () => {
    for (const year of DEMO_YEARS) {
      const train = await loadDataset(path.join(STREAM_DIR, year, 'train.jsonl'));
      const test = await loadDataset(path.join(STREAM_DIR, year, 'test.jsonl'));
      expect(train.length, year).to.be.within(60, 150);
      expect(test.length, year).to.be.within(30, 60);
      for (const c of [...train, ...test]) expect(c.messages.map((m) => m.role)).to.deep.equal(['user', 'assistant']);
      const trainQuestions = new Set(train.map((c) => c.messages[0].content));
      for (const c of test) expect(trainQuestions.has(c.messages[0].content), c.messages[0].content).to.equal(false);
      const kinds = fs
        .readFileSync(path.join(STREAM_DIR, year, 'test.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { kind: string }).kind);
      if (year === '2022') expect(new Set(kinds)).to.deep.equal(new Set(['new']));
      else expect(new Set(kinds)).to.deep.equal(new Set(['new', 'updated', 'unchanged']));
    }
  });

  it('make_stream.py regenerates the shipped stream byte for byte', () => {
    const out = tmpDir('demo-stream');
    const r = run('python3', [path.join(ROOT, 'scripts', 'demo', 'make_stream.py'), out]);
    expect(r.status, r.stderr).to.equal(0);
    const files = ['facts.json', ...DEMO_YEARS.flatMap((y) => [`${y}/train.jsonl`, `${y}/test.jsonl`])];
    for (const f of files) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(STREAM_DIR, f))), f).to.equal(true);
  });

  it('demo --quick runs plain LoRA and every CL method through the CLI and writes results.json and results.md', () => {
    const out = tmpDir('demo-run');
    const r = cli(['demo', '--quick', '-o', out]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/\| LoRA \|/);
    expect(r.stdout).to.match(/\| Replay \|/);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      tasks: string[];
      primaryScorer: string;
      methods: { method: string; seeds: { matrix: number[][] }[] }[];
    };
    expect(results.tasks).to.deep.equal(['2022', '2023']);
    expect(results.primaryScorer).to.equal('exact-match');
    expect(results.methods.map((m) => m.method)).to.deep.equal(['LoRA', 'Replay', 'LwF', 'EWC', 'GEM', 'A-GEM', 'CIA']);
    for (const m of results.methods) expect(m.seeds[0].matrix).to.have.length(3);
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).to.match(/\| Method \| 2022 \| 2023 \|/);
    // the stream's question kinds are tags: the final row is scored per kind
    expect(md).to.match(/## After the last task, by `kind`/);
  });

  it('demo --quick --tuners compares every tuner, each plain and with Replay', () => {
    const out = tmpDir('demo-tuners');
    const r = cli(['demo', '--quick', '--tuners', '-o', out]);
    expect(r.status, r.stderr).to.equal(0);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { methods: { method: string }[] };
    const tuners = ['LoRA', 'MoELoRA', 'AdaLoRA', 'Adapter', 'Prompt-Tuning', 'Prefix-Tuning', 'P-Tuning'];
    expect(results.methods.map((m) => m.method)).to.deep.equal(tuners.flatMap((t) => [t, `${t} + Replay`]));
  });
});
