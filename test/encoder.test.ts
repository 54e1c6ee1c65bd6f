/**
 * Native sentence encoder against sentence-transformers: token ids, embeddings (every pooling
 * mode, Normalize, BERT and XLM-R position numbering, both directory layouts), batching, typed
 * errors for bad directories and checkpoints, and the embedding-cosine scorer.
 *
 * Fixtures: test/fixtures/encoder (scripts/fixtures/make_encoder_fixtures.py; tiny random-init
 * models saved by sentence-transformers 6.0.1, with its ids and `encode` outputs).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  clampedCosine,
  ConfigError,
  DisposedError,
  EmbeddingCosineScorer,
  getScorer,
  InvalidArgumentError,
  loadCheckpoint,
  ModelLoadError,
  parseStreamConfig,
  saveSafetensors,
  scoreAll,
  SentenceEncoder,
  Tensor,
} from '../ts/index';

const FIXTURES = path.join(__dirname, 'fixtures', 'encoder');
// fp32 against fp32 with the same math: the observed max abs error is ~1e-6 (bert-pooling's sums).
const MAX_ABS_ERROR = 1e-5;
const MIN_COSINE = 0.99999;

interface Expected {
  maxSeqLength: number;
  sentences: string[];
  ids: number[][];
  embeddings: number[][];
}

const expectedOf = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'expected.json'), 'utf8')) as Expected;

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

function compare(got: Float32Array, want: number[][], dim: number): { maxAbs: number; minCos: number } {
  let maxAbs = 0;
  let minCos = 1;
  want.forEach((row, i) => {
    const ours = got.subarray(i * dim, (i + 1) * dim);
    row.forEach((v, j) => (maxAbs = Math.max(maxAbs, Math.abs(v - ours[j]))));
    minCos = Math.min(minCos, cosine(ours, row));
  });
  return { maxAbs, minCos };
}

/** A copy of a fixture directory in a temp folder, to break. */
function copyFixture(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cn-encoder-${name}-`));
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function rewriteWeights(dir: string, edit: (t: Record<string, Tensor>) => Record<string, Tensor>): Promise<void> {
  const file = path.join(dir, 'model.safetensors');
  const tensors = await loadCheckpoint(file);
  await saveSafetensors(file, edit(tensors));
}

async function loadError(dir: string): Promise<Error> {
  try {
    const enc = await SentenceEncoder.load(dir);
    await enc.dispose();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`loading ${dir} did not fail`);
}

describe('sentence encoder (native BERT / XLM-R) vs sentence-transformers', function () {
  const temps: string[] = [];
  after(() => temps.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  for (const name of ['bert', 'bert-pooling', 'xlmr']) {
    it(`${name}: same token ids as the Python tokenizer and embeddings within ${MAX_ABS_ERROR} (cosine ≥ ${MIN_COSINE})`, async () => {
      const want = expectedOf(name);
      await using enc = await SentenceEncoder.load(path.join(FIXTURES, name));
      expect(enc.maxSeqLength).to.equal(want.maxSeqLength);
      want.sentences.forEach((s, i) => expect(enc.tokenize(s), `ids of ${JSON.stringify(s)}`).to.deep.equal(want.ids[i]));
      const got = await enc.encode(want.sentences, { batchSize: 4 });
      expect(got.length).to.equal(want.sentences.length * enc.dimension);
      const { maxAbs, minCos } = compare(got, want.embeddings, enc.dimension);
      expect(maxAbs).to.be.below(MAX_ABS_ERROR);
      expect(minCos).to.be.at.least(MIN_COSINE);
    });
  }

  it('reads both directory layouts: pooling modes, Normalize, max length, lower-casing', async () => {
    await using bert = await SentenceEncoder.load(path.join(FIXTURES, 'bert'));
    expect([bert.pooling, bert.normalize, bert.dimension, bert.doLowerCase]).to.deep.equal([['mean'], true, 32, false]);
    await using pooled = await SentenceEncoder.load(path.join(FIXTURES, 'bert-pooling'));
    expect(pooled.pooling).to.deep.equal(['cls', 'max', 'mean', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken']);
    expect([pooled.normalize, pooled.dimension]).to.deep.equal([false, 192]);
    // legacy layout: sentence_bert_config.json max_seq_length / do_lower_case, boolean pooling keys
    await using xlmr = await SentenceEncoder.load(path.join(FIXTURES, 'xlmr'));
    expect([xlmr.pooling, xlmr.normalize, xlmr.maxSeqLength, xlmr.doLowerCase, xlmr.spec.positionPaddingIdx]).to.deep.equal([['mean'], false, 20, true, 1]);
    const long = expectedOf('xlmr').sentences[12];
    expect(xlmr.tokenize(long)).to.have.length(20);
    expect(xlmr.tokenize(long).at(-1)).to.equal(2); // </s> kept after truncation
  });

  it('gives the same embeddings one by one as in one padded batch (max abs difference ≤ 1e-5)', async () => {
    const { sentences } = expectedOf('xlmr');
    await using enc = await SentenceEncoder.load(path.join(FIXTURES, 'xlmr'));
    const batched = await enc.encode(sentences, { batchSize: 64 });
    for (let i = 0; i < sentences.length; i++) {
      const alone = await enc.encode([sentences[i]], { batchSize: 1 });
      const row = batched.subarray(i * enc.dimension, (i + 1) * enc.dimension);
      // float32 rounding only: MKL blocks a 1-row product differently from a 64-row one (1.3e-6
      // seen on an AVX2 CPU); padding leaking into the pooled mean would be off by ~1e-1
      alone.forEach((v, j) => expect(Math.abs(v - row[j]), `sentence ${i}`).to.be.at.most(1e-5));
    }
    expect(await enc.encode([])).to.have.length(0);
  });

  it('accepts checkpoints with a bert. prefix and task heads (ignored), with the same embeddings', async () => {
    const dir = copyFixture('bert');
    temps.push(dir);
    await rewriteWeights(dir, (t) => {
      const out: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(t)) out[`bert.${k}`] = v;
      out['cls.predictions.bias'] = Tensor.fromArray(new Float32Array(4), [4]);
      return out;
    });
    const want = expectedOf('bert');
    await using enc = await SentenceEncoder.load(dir);
    expect(compare(await enc.encode(want.sentences), want.embeddings, enc.dimension).maxAbs).to.be.below(MAX_ABS_ERROR);
  });

  it('names the tensor that is mis-shaped, missing or unexpected (ModelLoadError)', async () => {
    const dir = copyFixture('bert');
    temps.push(dir);
    await rewriteWeights(dir, (t) => {
      delete t['encoder.layer.0.attention.self.key.bias'];
      t['encoder.layer.1.intermediate.dense.weight'] = Tensor.fromArray(new Float32Array(64 * 31), [64, 31]);
      t['encoder.layer.7.output.dense.weight'] = Tensor.fromArray(new Float32Array(4), [2, 2]);
      return t;
    });
    const err = await loadError(dir);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).tensor).to.be.a('string');
    expect(err.message).to.contain("tensor 'encoder.layer.1.intermediate.dense.weight' has shape [64, 31], expected [64, 32]");
    expect(err.message).to.contain("missing tensor 'encoder.layer.0.attention.self.key.bias'");
    expect(err.message).to.contain("unexpected tensor 'encoder.layer.7.output.dense.weight'");
  });

  it('names the file at fault for a missing or malformed directory', async () => {
    const missing = path.join(os.tmpdir(), 'cn-encoder-does-not-exist');
    let err = await loadError(missing);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(missing);

    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-encoder-empty-'));
    temps.push(empty);
    err = await loadError(empty);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(path.join(empty, 'modules.json'));

    const dir = copyFixture('bert');
    temps.push(dir);
    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), '{"pooling_mode": ');
    err = await loadError(dir);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).file).to.equal(path.join(dir, '1_Pooling', 'config.json'));

    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), '{"pooling_mode": "median"}');
    err = await loadError(dir);
    expect([(err as ConfigError).file, (err as ConfigError).field]).to.deep.equal([path.join(dir, '1_Pooling', 'config.json'), 'pooling_mode']);

    fs.copyFileSync(path.join(FIXTURES, 'bert', '1_Pooling', 'config.json'), path.join(dir, '1_Pooling', 'config.json'));
    const modules = JSON.parse(fs.readFileSync(path.join(dir, 'modules.json'), 'utf8')) as object[];
    modules.push({ idx: 3, name: '3', path: '3_Dense', type: 'sentence_transformers.models.Dense' });
    fs.writeFileSync(path.join(dir, 'modules.json'), JSON.stringify(modules));
    err = await loadError(dir);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).field).to.equal('modules[3].type');
    expect(err.message).to.contain('sentence_transformers.models.Dense');

    fs.copyFileSync(path.join(FIXTURES, 'bert', 'modules.json'), path.join(dir, 'modules.json'));
    fs.rmSync(path.join(dir, 'model.safetensors'));
    err = await loadError(dir);
    expect(err.message).to.contain(dir);

    const config = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'bert', 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2' }));
    err = await loadError(dir);
    expect([(err as ConfigError).file, (err as ConfigError).field]).to.deep.equal([path.join(dir, 'config.json'), 'model_type']);
  });

  it('rejects bad input and use after dispose with typed errors', async () => {
    const enc = await SentenceEncoder.load(path.join(FIXTURES, 'bert'));
    try {
      await enc.encode([42 as unknown as string]).then(
        () => expect.fail('no error'),
        (e: Error) => expect(e).to.be.instanceOf(InvalidArgumentError),
      );
      await enc.encode(['a'], { batchSize: 0 }).then(
        () => expect.fail('no error'),
        (e: Error) => expect(e).to.be.instanceOf(InvalidArgumentError),
      );
    } finally {
      await enc.dispose();
    }
    await enc.encode(['a']).then(
      () => expect.fail('no error'),
      (e: Error) => expect(e).to.be.instanceOf(DisposedError),
    );
  });
});

describe('embedding-cosine scorer', function () {
  it('clamps cosines to [0, 1] (hand-worked)', () => {
    expect(clampedCosine([1, 0], [2, 0])).to.equal(1);
    expect(clampedCosine([1, 0], [0, 3])).to.equal(0);
    expect(clampedCosine([1, 0], [-1, 0])).to.equal(0); // cosine −1, clamped
    expect(clampedCosine([1, 2], [-2, 0.5])).to.equal(0); // cosine −0.2169, clamped
    expect(clampedCosine([1, 1], [1, 0])).to.be.closeTo(Math.SQRT1_2, 1e-15);
    expect(clampedCosine([0, 0], [1, 0])).to.equal(0);
    expect(() => clampedCosine([1], [1, 2])).to.throw(InvalidArgumentError);
  });

  it('scores identical strings 1 and other pairs by the cosine of the sentence-transformers embeddings', async () => {
    const want = expectedOf('xlmr');
    const scorer = getScorer('embedding-cosine', { model: path.join(FIXTURES, 'xlmr') }) as EmbeddingCosineScorer;
    try {
      const [a, b, c] = [want.sentences[0], want.sentences[2], want.sentences[5]];
      const scores = await scoreAll(scorer, [a, a, b, c], [a, b, c, a]);
      expect(scores[0]).to.be.closeTo(1, 1e-6);
      const ref = (i: number, j: number) => Math.max(0, cosine(want.embeddings[i], want.embeddings[j]));
      expect(scores[1]).to.be.closeTo(ref(0, 2), 1e-5);
      expect(scores[2]).to.be.closeTo(ref(2, 5), 1e-5);
      expect(scores[3]).to.be.closeTo(ref(5, 0), 1e-5);
      expect(new Set(scores.slice(1).map((s) => s.toFixed(4))).size).to.equal(3); // the pairs differ
    } finally {
      await scorer.dispose();
    }
  });

  it('needs a model option; stream configs accept {name, model} entries with the path resolved', () => {
    expect(() => getScorer('embedding-cosine')).to.throw(ConfigError, /model/);
    const config = parseStreamConfig(
      {
        model: 'm',
        tasks: [{ name: 't', train: 'a.jsonl', test: 'b.jsonl' }],
        scorers: [{ name: 'embedding-cosine', model: 'st-model' }, 'contains'],
      },
      '/runs/x/config.json',
    );
    expect(config.scorers).to.deep.equal([{ name: 'embedding-cosine', model: path.resolve('/runs/x', 'st-model') }, 'contains']);
  });
});
