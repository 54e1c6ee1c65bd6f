/**
 * The stream runner end to end on a tiny model (random Qwen2 saved by transformers, a small
 * real BPE tokenizer): the matrix, the outputs, methods side by side, and resuming after a kill.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { AbortError, ConfigError, continualMetrics, parseStreamConfig, readStreamConfig, runStream, writeResults } from '../ts/index';
import type { StreamConfigInput } from '../ts/index';
import { cli, tmpDir } from './helpers/run';
import { makeTinyStream } from './helpers/tiny-stream';

describe('stream runner', function () {
  this.timeout(300_000);
  let root: string;
  let base: StreamConfigInput;

  before(() => {
    root = tmpDir('stream');
    base = { ...makeTinyStream(root), methods: [{ name: 'seqft' }, { name: 'replay', perTask: 2 }] };
  });

  it('fills the (T+1)×T matrix per method and writes results.json and results.md', async () => {
    const file = path.join(root, 'stream.json');
    fs.writeFileSync(file, JSON.stringify(base));
    const events: string[] = [];
    const results = await runStream(readStreamConfig(file), { onEvent: (e) => events.push(e.type) });
    expect(results.tasks).to.deep.equal(['one', 'two', 'three']);
    expect(results.methods.map((m) => m.method)).to.deep.equal(['LoRA', 'Replay']);
    for (const m of results.methods) {
      const s = m.seeds[0];
      expect(s.matrix).to.have.length(4);
      for (const row of s.matrix) expect(row).to.have.length(3);
      for (const row of s.matrix) for (const v of row) expect(v).to.be.within(0, 1);
      expect(Object.keys(s.matrices)).to.deep.equal(['contains', 'token-f1']);
      expect(s.rows[1].evaluations[0].samples).to.have.length(3);
      expect(s.rows[1].trainSeconds).to.be.greaterThan(0);
      expect(fs.existsSync(path.join(root, 'out', m.method.toLowerCase(), 'seed-1', 'task-3-three', 'adapter', 'adapter_model.safetensors'))).to.equal(true);
    }
    // row 0 (the base model) is shared
    expect(results.methods[0].seeds[0].matrix[0]).to.deep.equal(results.methods[1].seeds[0].matrix[0]);
    // Replay's buffer is saved with each task: indices into every past task's training samples
    const buffer = JSON.parse(fs.readFileSync(path.join(root, 'out', 'replay', 'seed-1', 'task-3-three', 'replay-buffer.json'), 'utf8'));
    expect(buffer.tasks).to.deep.equal(['one', 'two']);
    expect(buffer.indices.map((x: number[]) => x.length)).to.deep.equal([2, 2]);
    for (const x of buffer.indices.flat()) expect(x).to.be.within(0, 5);
    expect(events).to.include.members(['stage', 'train', 'eval', 'row']);
    const files = writeResults(results);
    const md = fs.readFileSync(files.markdown, 'utf8');
    expect(md).to.match(/\| Method \| one \| two \| three \| Avg\.ACC \| Forgetting \| New\.ACC \| BWT \| FWT \|/);
    expect(md).to.match(/\| LoRA \|/);
    expect(md).to.match(/\| Replay \|/);
    const json = JSON.parse(fs.readFileSync(files.json, 'utf8'));
    expect(json.methods[0].seeds[0].rows[2].evaluations[1].samples[0]).to.have.keys(['answer', 'reference', 'scores']);
  });

  it('resumes after being killed mid-stream and gives the uninterrupted matrix', async () => {
    const uninterrupted = await runStream(parseStreamConfig({ ...base, methods: [{ name: 'seqft' }], output: path.join(root, 'full') }, path.join(root, 'x.json')));
    const config = parseStreamConfig({ ...base, methods: [{ name: 'seqft' }], output: path.join(root, 'killed') }, path.join(root, 'x.json'));
    const controller = new AbortController();
    const err = await runStream(config, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'train' && e.task === 'two' && e.progress.step === 2) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AbortError);
    const resumedEvents: string[] = [];
    const resumed = await runStream(config, { onEvent: (e) => e.type === 'resume' && resumedEvents.push(`${e.fromRow}`) });
    expect(resumedEvents).to.deep.equal(['1']);
    expect(resumed.methods[0].seeds[0].matrix).to.deep.equal(uninterrupted.methods[0].seeds[0].matrix);
  });

  it('runs each task order: stages follow the order, columns stay in task order, metrics use the training order', async () => {
    const orders = [
      ['one', 'two', 'three'],
      ['three', 'one', 'two'],
    ];
    const results = await runStream(parseStreamConfig({ ...base, methods: [{ name: 'seqft' }], orders, output: path.join(root, 'orders') }, path.join(root, 'x.json')));
    const runs = results.methods[0].seeds;
    expect(runs.map((r) => r.order)).to.deep.equal(orders);
    expect(fs.existsSync(path.join(root, 'orders', 'lora', 'order-2-seed-1', 'task-1-three', 'adapter', 'adapter_model.safetensors'))).to.equal(true);
    const second = runs[1];
    // the metrics are those of the matrix whose columns are put in training order
    const trainingOrder = second.matrix.map((row) => [2, 0, 1].map((i) => row[i]));
    expect(second.metrics).to.deep.equal(continualMetrics(trainingOrder));
    // row 0 (the base model) is shared and in task order
    expect(second.matrix[0]).to.deep.equal(runs[0].matrix[0]);
    expect(() => parseStreamConfig({ ...base, orders: [['one', 'two', 'two']] }, path.join(root, 'x.json'))).to.throw(ConfigError, /orders\[0\] must list every task/);
  });

  it('compares several tuners in one run: a row per tuner and method', async () => {
    const tuners = [
      { type: 'adapter' as const, bottleneckDim: 8 },
      { type: 'prompt' as const, numVirtualTokens: 4 },
      { type: 'moelora' as const, r: 4, experts: 2, alpha: 8, dropout: 0 },
    ];
    const results = await runStream(
      parseStreamConfig({ ...base, tuners, methods: [{ name: 'seqft' }, { name: 'replay', perTask: 2 }], output: path.join(root, 'tuners') }, path.join(root, 'x.json')),
    );
    expect(results.methods.map((m) => m.method)).to.deep.equal(['Adapter', 'Adapter + Replay', 'Prompt-Tuning', 'Prompt-Tuning + Replay', 'MoELoRA', 'MoELoRA + Replay']);
    expect(results.methods.map((m) => m.tuner.type)).to.deep.equal(['adapter', 'adapter', 'prompt', 'prompt', 'moelora', 'moelora']);
    for (const m of results.methods) expect(m.seeds[0].matrix).to.have.length(4);
    const saved = JSON.parse(fs.readFileSync(path.join(root, 'tuners', 'prompt-tuning-replay', 'seed-1', 'task-3-three', 'adapter', 'adapter_config.json'), 'utf8'));
    expect(saved.peft_type).to.equal('PROMPT_TUNING');
    expect(writeResults(results).markdown).to.be.a('string');
    expect(fs.readFileSync(path.join(root, 'tuners', 'results.md'), 'utf8')).to.match(/\| Adapter \+ Replay \|/);
  });

  it('rejects a bad config naming the file and field, and accepts ms-swift flag names', () => {
    const file = path.join(root, 'bad.yaml');
    fs.writeFileSync(file, 'model: m\ntasks: []\n');
    expect(() => readStreamConfig(file)).to.throw(ConfigError, /bad\.yaml: field "tasks"/);
    fs.writeFileSync(file, 'model: m\ntasks: [{name: a, train: a.jsonl, test: b.jsonl}]\nbogus: 1\n');
    expect(() => readStreamConfig(file)).to.throw(ConfigError, /bogus/);
    const c = parseStreamConfig({ model: 'm', tasks: [{ name: 'a', train: 'a', test: 'b' }], lora_rank: 16, num_train_epochs: 5, learning_rate: 3e-4 });
    expect(c.tuner.type === 'lora' && c.tuner.r).to.equal(16);
    expect(c.training.epochs).to.equal(5);
    expect(c.training.learningRate).to.equal(3e-4);
  });

  it('continual-next run: exit 1 with a one-line error for a missing config', () => {
    const r = cli(['run', path.join(root, 'nope.yaml')]);
    expect(r.status).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/IoError: cannot read stream config/);
  });
});
