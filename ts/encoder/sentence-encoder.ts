/**
 * SentenceEncoder: a sentence-transformers model directory (Transformer → Pooling → optional
 * Normalize; BERT or XLM-R / RoBERTa) run natively: texts → embeddings, as
 * `SentenceTransformer.encode` computes them.
 *
 *   await using enc = await SentenceEncoder.load('/models/paraphrase-multilingual-MiniLM-L12-v2');
 *   const e = await enc.encode(['a text', 'another']);   // Float32Array, 2 × enc.dimension
 */
import path from 'node:path';

import { ConfigError, InvalidArgumentError } from '../errors';
import type { NativeEncoder, NativeEncoderSpec } from '../native/bindings';
import { loadNative } from '../native/load';
import type { LoadOptions } from '../model/model';
import { NativeResource } from '../native/resource';
import { Tokenizer } from '../tokenizer/tokenizer';
import { encoderSpecFromConfig, maxSequenceOf } from './encoder-config';
import { readJsonObject } from './json-file';
import { readSentenceTransformerDir } from './st-directory';

export interface SentenceEncodeOptions {
  /** Sentences per native forward pass (default 32). Results do not depend on it beyond float rounding. */
  batchSize?: number;
}

/** Where the template puts the special tokens around a single text: [prefix] text [suffix]. */
interface SpecialLayout {
  prefix: number[];
  suffix: number[];
}

export class SentenceEncoder extends NativeResource {
  readonly dir: string;
  /** Length of one embedding (hidden size × number of pooling modes). */
  readonly dimension: number;
  /** Tokens per text fed to the model, special tokens included; longer texts are truncated. */
  readonly maxSeqLength: number;
  readonly pooling: readonly string[];
  readonly normalize: boolean;
  readonly doLowerCase: boolean;
  readonly tokenizer: Tokenizer;
  readonly spec: NativeEncoderSpec;
  readonly #native: NativeEncoder;
  readonly #layout: SpecialLayout;

  private constructor(init: {
    dir: string;
    native: NativeEncoder;
    tokenizer: Tokenizer;
    spec: NativeEncoderSpec;
    maxSeqLength: number;
    pooling: string[];
    normalize: boolean;
    doLowerCase: boolean;
    layout: SpecialLayout;
  }) {
    super();
    this.dir = init.dir;
    this.#native = init.native;
    this.tokenizer = init.tokenizer;
    this.spec = init.spec;
    this.maxSeqLength = init.maxSeqLength;
    this.pooling = init.pooling;
    this.normalize = init.normalize;
    this.doLowerCase = init.doLowerCase;
    this.dimension = init.spec.hiddenSize * init.pooling.length;
    this.#layout = init.layout;
    const native = init.native;
    this.track(() => native.dispose());
  }

  /**
   * Loads modules.json, the transformer's sentence_bert_config.json, config.json, tokenizer.json
   * (+ tokenizer_config.json) and model.safetensors, 1_Pooling/config.json and 2_Normalize.
   * Errors are ModelLoadError / ConfigError naming the file (and field or tensor) at fault.
   * `device` ('cpu', 'cuda', 'cuda:N'; DeviceError where CUDA is not usable) and `dtype`
   * (float32 by default) place the weights; embeddings come back as float32 either way.
   */
  static async load(dir: string, options: LoadOptions = {}): Promise<SentenceEncoder> {
    const layout = readSentenceTransformerDir(dir);
    const configFile = path.join(layout.transformerDir, 'config.json');
    const spec = encoderSpecFromConfig(readJsonObject(configFile, true), configFile);
    if (layout.poolingDimension !== undefined && layout.poolingDimension !== spec.hiddenSize) {
      throw new ConfigError(`${layout.poolingFile}: embedding dimension ${layout.poolingDimension} differs from hidden_size ${spec.hiddenSize} in ${configFile}`, {
        file: layout.poolingFile,
        field: 'embedding_dimension',
      });
    }
    const tokenizer = await Tokenizer.fromDir(layout.transformerDir);
    if (tokenizer.vocabSize > spec.vocabSize) {
      throw new ConfigError(`the tokenizer in ${layout.transformerDir} has ${tokenizer.vocabSize} ids but ${configFile} has vocab_size ${spec.vocabSize}`, {
        file: configFile,
        field: 'vocab_size',
      });
    }
    // sentence_bert_config's max_seq_length (≤ 5) wins over model_max_length (6), as in
    // sentence-transformers; neither may exceed what the position table numbers.
    const tokConfig = readJsonObject(path.join(layout.transformerDir, 'tokenizer_config.json'), false) ?? {};
    const modelMax = tokConfig['model_max_length'];
    const fromTokenizer = typeof modelMax === 'number' && Number.isInteger(modelMax) && modelMax > 0 && modelMax < 1e9 ? modelMax : undefined;
    const maxSeqLength = Math.min(layout.maxSeqLength ?? fromTokenizer ?? Infinity, maxSequenceOf(spec));
    const specialLayout = specialLayoutOf(tokenizer, layout.transformerDir);
    if (maxSeqLength <= specialLayout.prefix.length + specialLayout.suffix.length) {
      throw new ConfigError(`max sequence length ${maxSeqLength} leaves no room for text between the special tokens`, { file: configFile });
    }

    const native = loadNative();
    const tensors = await native.safetensors.loadCheckpoint(layout.transformerDir);
    try {
      const encoder = await native.Encoder.fromTensors(spec, tensors, { source: layout.transformerDir, device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' });
      return new SentenceEncoder({
        dir: path.resolve(dir),
        native: encoder,
        tokenizer,
        spec,
        maxSeqLength,
        pooling: layout.pooling,
        normalize: layout.normalize,
        doLowerCase: layout.doLowerCase,
        layout: specialLayout,
      });
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  protected release(): void {
    this.#native.dispose();
  }

  /** The token ids the model sees for `text`: special tokens added, truncated to maxSeqLength. */
  tokenize(text: string): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('SentenceEncoder.tokenize expects a string', { field: 'text' });
    const content = this.tokenizer.encode(this.doLowerCase ? text.toLowerCase() : text, { addSpecialTokens: false });
    const { prefix, suffix } = this.#layout;
    // sentence-transformers truncates the text's tokens, keeping the special tokens
    const room = this.maxSeqLength - prefix.length - suffix.length;
    return [...prefix, ...content.slice(0, room), ...suffix];
  }

  /** Embeddings of `texts`, row-major (texts.length × dimension). */
  async encode(texts: readonly string[], options: SentenceEncodeOptions = {}): Promise<Float32Array> {
    this.assertAlive();
    if (!Array.isArray(texts)) throw new InvalidArgumentError('SentenceEncoder.encode expects an array of strings', { field: 'texts' });
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidArgumentError('batchSize must be a positive integer', { field: 'batchSize' });
    const ids = texts.map((t, i) => {
      if (typeof t !== 'string') throw new InvalidArgumentError(`texts[${i}] is not a string`, { field: `texts[${i}]` });
      return this.tokenize(t);
    });
    // Longest first, as sentence-transformers does, so a batch pads little.
    const order = ids.map((_, i) => i).sort((a, b) => ids[b].length - ids[a].length || a - b);
    const out = new Float32Array(texts.length * this.dimension);
    for (let start = 0; start < order.length; start += batchSize) {
      const rows = order.slice(start, start + batchSize);
      const result = await this.#native.encode(rows.map((r) => ids[r]), { pooling: [...this.pooling], normalize: this.normalize });
      rows.forEach((r, k) => out.set(result.data.subarray(k * this.dimension, (k + 1) * this.dimension), r * this.dimension));
    }
    return out;
  }
}

/** Finds the special tokens the post-processor puts before and after a single text. */
function specialLayoutOf(tokenizer: Tokenizer, dir: string): SpecialLayout {
  const probe = 'a';
  const content = tokenizer.encode(probe, { addSpecialTokens: false });
  const full = tokenizer.encode(probe, { addSpecialTokens: true });
  for (let k = 0; k + content.length <= full.length; k++) {
    if (content.every((id, j) => full[k + j] === id)) return { prefix: full.slice(0, k), suffix: full.slice(k + content.length) };
  }
  throw new ConfigError(`the post-processor in ${path.join(dir, 'tokenizer.json')} changes a text's own tokens; only templates that add tokens around it are supported`, {
    file: path.join(dir, 'tokenizer.json'),
    field: 'post_processor',
  });
}
