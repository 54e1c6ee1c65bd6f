/**
 * Model: a Hugging Face decoder directory (config.json, *.safetensors, tokenizer files) loaded
 * into the native engine, with an optional tuner (LoRA, MoELoRA, full fine-tuning, ...).
 *
 *   await using model = await Model.load(dir, { device: 'cpu' });
 *   model.addAdapter({ type: 'lora', r: 8, alpha: 32 });
 *   const [answer] = await model.generate([[{ role: 'user', content: 'Hi' }]]);
 */
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, InvalidArgumentError, ModelLoadError } from '../errors';
import type { DType, NativeModel, NativeTensor } from '../native/bindings';
import { loadNative } from '../native/load';
import { NativeResource } from '../native/resource';
import { Tensor } from '../tensor';
import { firstIssue } from '../util/zod-field';
import { readModelConfig, type DecoderSpec } from './config';
import type { ProcessGroup } from '../distributed/process-group';
import { isNativeMethod, methodSchema, type MethodConfig, type MethodConfigInput, type NativeMethodConfig } from '../methods/options';
import { encodeExamples, type TrainingData, type TrainingEncoder } from '../train/trainer';
import { adapterConfigFor, adaloraRankMask, tunerFromAdapterConfig, withDefaults, type PromptTuningOptions, type TunerOptions } from './tuner-options';
import { adaloraMaskTensors, splitAdaloraState } from './adalora-state';

export interface LoadOptions {
  /** 'cpu' (default), 'cuda' or 'cuda:N'. Asking for CUDA where none is usable throws DeviceError. */
  device?: string;
  /** Compute dtype: float32 on CPU by default; bfloat16 recommended on CUDA. */
  dtype?: DType;
}

export class Model extends NativeResource {
  /** @internal */
  readonly native: NativeModel;
  readonly dir: string;
  readonly spec: DecoderSpec;
  readonly config: Record<string, unknown>;
  readonly device: string;
  readonly dtype: DType;
  #tuner: TunerOptions | undefined;
  #method: NativeMethodConfig | undefined;

  private constructor(native: NativeModel, dir: string, spec: DecoderSpec, config: Record<string, unknown>, options: Required<LoadOptions>) {
    super();
    this.native = native;
    this.dir = dir;
    this.spec = spec;
    this.config = config;
    this.device = options.device;
    this.dtype = options.dtype;
    this.track(() => native.dispose());
  }

  /** Loads config.json and the safetensors weights (single or sharded) of a HF model directory. */
  static async load(dir: string, options: LoadOptions = {}): Promise<Model> {
    const { spec, raw } = readModelConfig(dir);
    const native = loadNative();
    const resolved = { device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' } as Required<LoadOptions>;
    const tensors = await native.safetensors.loadCheckpoint(dir);
    try {
      const model = await native.Model.fromTensors(spec, tensors, { ...resolved, source: dir });
      return new Model(model, path.resolve(dir), spec, raw, resolved);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /**
   * A model of the given architecture with random weights (N(0, std²), norms 1, biases 0):
   * for tests and benchmarks, where the values do not matter.
   */
  static async random(spec: DecoderSpec, options: LoadOptions & { seed?: number; std?: number } = {}): Promise<Model> {
    const resolved = { device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' } as Required<LoadOptions>;
    const native = await loadNative().Model.random(spec, { ...resolved, seed: options.seed ?? 0, std: options.std ?? 0.02 });
    return new Model(native, '(random)', spec, {}, resolved);
  }

  /** The tuner attached now, if any. */
  get tuner(): TunerOptions | undefined {
    return this.#tuner;
  }

  /**
   * Attaches a tuner (LoRA by default). One tuner at a time. `tokenizer` turns a prompt-tuning
   * `initText` into token ids.
   */
  addAdapter(options: TunerOptions, context: { tokenizer?: { encode(text: string, o?: { addSpecialTokens?: boolean }): number[] } } = {}): void {
    this.assertAlive();
    const full = withDefaults(options);
    this.native.addTuner(full.type, nativeTunerOptions(full, context.tokenizer));
    this.#tuner = full;
  }

  /** Removes the tuner (unmerging it first): the model is the base model again. */
  removeAdapter(): void {
    this.assertAlive();
    this.native.removeTuner();
    this.#tuner = undefined;
  }

  /** Writes the tuner in PEFT's format: adapter_config.json + adapter_model.safetensors (atomic). */
  async saveAdapter(dir: string): Promise<void> {
    this.assertAlive();
    if (!this.#tuner) throw new ConfigError('the model has no adapter to save', { field: 'tuner' });
    fs.mkdirSync(dir, { recursive: true });
    const state = this.native.tunerState();
    // AdaLoRA: only PEFT's keys go to the file; the rank mask goes to the config
    const { tensors, rankMask } = splitAdaloraState(state);
    try {
      await loadNative().safetensors.save(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    } finally {
      for (const t of Object.values(state)) t.dispose();
    }
    const config = adapterConfigFor(this.#tuner, this.dir, this.linearNames(), { spec: this.spec, rankMask });
    writeFileAtomic(path.join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  /** Attaches the adapter saved in `dir` (ours or PEFT's). */
  async loadAdapter(dir: string): Promise<void> {
    this.assertAlive();
    const configFile = path.join(dir, 'adapter_config.json');
    if (!fs.existsSync(configFile)) throw new ModelLoadError(`${dir} has no adapter_config.json`, { file: configFile });
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`${configFile}: not valid JSON (${(e as Error).message})`, { file: configFile });
    }
    const options = tunerFromAdapterConfig(json, configFile);
    const state = await loadNative().safetensors.load(path.join(dir, 'adapter_model.safetensors'));
    const rankMask = options.type === 'adalora' ? adaloraRankMask(json) : undefined;
    if (rankMask) Object.assign(state, adaloraMaskTensors(rankMask));
    try {
      if (this.#tuner) this.removeAdapter();
      this.addAdapter(options);
      this.native.loadTunerState(normaliseAdapterKeys(state), path.join(dir, 'adapter_model.safetensors'));
    } catch (e) {
      if (this.#tuner) this.removeAdapter();
      throw e;
    } finally {
      for (const t of Object.values(state)) t.dispose();
    }
  }

  /** The native continual-learning method set now (EWC, LwF, GEM, A-GEM, CIA), if any. */
  get method(): NativeMethodConfig | undefined {
    return this.#method;
  }

  /**
   * Sets the continual-learning method that acts on training from now on (its hooks run inside
   * Trainer.fit; beforeTask/afterTask mark task boundaries). Replaces any previous method and its
   * state. Options are validated (ConfigError naming the field); docs/methods.md lists them.
   */
  setMethod(options: MethodConfigInput): void {
    this.assertAlive();
    const parsed = methodSchema.safeParse(options);
    if (!parsed.success) {
      const { field, message } = firstIssue(parsed.error, 'method');
      throw new ConfigError(`method option "${field}": ${message}`, { field });
    }
    const m: MethodConfig = parsed.data;
    if (!isNativeMethod(m)) throw new ConfigError(`method "${m.name}" acts on the training data, not on the model: the stream runner applies it`, { field: 'method.name' });
    const { name, label: _label, ...rest } = m;
    this.native.setMethod(name, rest);
    this.#method = m;
  }

  clearMethod(): void {
    this.assertAlive();
    this.native.clearMethod();
    this.#method = undefined;
  }

  /** Start of task `task` (0-based): e.g. LwF snapshots the current adapter as its teacher. */
  async beforeTask(task: number): Promise<void> {
    this.assertAlive();
    await this.native.beforeTask(task);
  }

  /**
   * End of task `task`, with the task's training data: e.g. EWC estimates its Fisher, GEM stores
   * its memory, CIA replaces the adapter by its EMA. Call it before saving the task's adapter.
   */
  async afterTask(task: number, data: TrainingData, options: { tokenizer?: TrainingEncoder; maxLength?: number; processGroup?: ProcessGroup } = {}): Promise<void> {
    this.assertAlive();
    const examples = encodeExamples(data, options.maxLength ?? 2048, options.tokenizer);
    // With a process group every rank must call this (EWC shards its Fisher samples over the ranks).
    await this.native.afterTask(task, examples, options.tokenizer?.padTokenId ?? 0, options.processGroup?.native);
  }

  /** Writes everything the method keeps (Fisher, anchors, memories, EMA, teacher) as safetensors, atomically. */
  async saveMethodState(file: string): Promise<void> {
    this.assertAlive();
    const state = this.native.methodState();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await loadNative().safetensors.save(file, state, { method: this.#method?.name ?? '' });
    } finally {
      for (const t of Object.values(state)) t.dispose();
    }
  }

  /** Restores a state written by saveMethodState for the same method. */
  async loadMethodState(file: string): Promise<void> {
    this.assertAlive();
    if (!fs.existsSync(file)) throw new ModelLoadError(`method state ${file} does not exist`, { file });
    const state = await loadNative().safetensors.load(file);
    try {
      this.native.loadMethodState(state);
    } finally {
      for (const t of Object.values(state)) t.dispose();
    }
  }

  /** Logits [B, S, vocab] (float32) for token ids [B, S]; attentionMask marks real tokens. */
  async forward(inputIds: Tensor, attentionMask?: Tensor): Promise<Tensor> {
    this.assertAlive();
    return new Tensor(await this.native.forward(inputIds.native, attentionMask?.native));
  }

  /**
   * Folds the adapter into the base weights (faster inference); undo with unmerge(). Returns
   * false when the tuner cannot be folded (MoELoRA: its router makes the update token-dependent).
   */
  merge(): boolean {
    this.assertAlive();
    return this.native.merge();
  }

  unmerge(): boolean {
    this.assertAlive();
    return this.native.unmerge();
  }

  /** Base and trainable parameter counts. */
  parameterCount(): { base: number; trainable: number } {
    this.assertAlive();
    return this.native.parameterCount();
  }

  /** HF module names of the model's projections, in order (e.g. model.layers.0.self_attn.q_proj). */
  linearNames(): string[] {
    const s = this.spec;
    const names: string[] = [];
    for (let i = 0; i < s.numLayers; i++) {
      const p = `model.layers.${i}.`;
      switch (s.family) {
        case 'internlm2':
          names.push(`${p}attention.wqkv`, `${p}attention.wo`, `${p}feed_forward.w1`, `${p}feed_forward.w3`, `${p}feed_forward.w2`);
          break;
        case 'baichuan':
          names.push(`${p}self_attn.W_pack`, `${p}self_attn.o_proj`, `${p}mlp.gate_proj`, `${p}mlp.up_proj`, `${p}mlp.down_proj`);
          break;
        default:
          names.push(...['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((n) => `${p}self_attn.${n}`), ...['gate_proj', 'up_proj', 'down_proj'].map((n) => `${p}mlp.${n}`));
      }
    }
    return names;
  }

  protected release(): void {
    this.native.dispose();
  }
}

/** The options object the native tuner reads: lists of ids travel as strings; initText becomes ids. */
function nativeTunerOptions(t: TunerOptions, tokenizer?: { encode(text: string, o?: { addSpecialTokens?: boolean }): number[] }): Record<string, unknown> {
  const { type: _type, ...rest } = t;
  if (t.type !== 'prompt') return rest;
  const { initText, initTokenIds, ...others } = t as PromptTuningOptions & { type: 'prompt' };
  let ids = initTokenIds;
  if (!ids && initText !== undefined && t.init === 'text') {
    if (!tokenizer) throw new ConfigError('tuner option "tuner.initText" needs a tokenizer: addAdapter(options, { tokenizer }), or give initTokenIds', { field: 'tuner.initText' });
    // PEFT tokenises the init text with the tokenizer's defaults (special tokens included)
    ids = tokenizer.encode(initText);
  }
  const { type: _t, ...fields } = others;
  return { ...fields, ...(ids ? { initTokenIds: ids.map(String) } : {}) };
}

/** PEFT saves keys without the adapter name; some tools keep ".default": accept both. */
function normaliseAdapterKeys(state: Record<string, NativeTensor>): Record<string, NativeTensor> {
  const out: Record<string, NativeTensor> = {};
  for (const [k, v] of Object.entries(state)) out[k.replace(/\.(lora_[AB]|lora_E|lora_embedding_[AB])\.default(\.|$)/, '.$1$2')] = v;
  return out;
}

/** Writes a small text file atomically (temp file + rename). */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function assertTokenMatrix(ids: number[][], what: string): void {
  if (!Array.isArray(ids) || ids.some((r) => !Array.isArray(r))) throw new InvalidArgumentError(`${what} must be an array of token id arrays`, { field: what });
}
