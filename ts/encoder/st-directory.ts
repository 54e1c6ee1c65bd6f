/**
 * The layout of a sentence-transformers model directory: modules.json lists the modules in
 * order; we support Transformer → Pooling → optional Normalize, in the file layouts of both
 * sentence-transformers ≤ 5 (sentence_bert_config.json with max_seq_length / do_lower_case,
 * pooling_mode_*_tokens booleans) and 6 (max length in tokenizer_config.json's
 * model_max_length, pooling_mode as a name or list of names). See docs/formats.md.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, ModelLoadError } from '../errors';
import { readJsonObject } from './json-file';

export interface SentenceTransformerLayout {
  /** The Transformer module's folder (config.json, model.safetensors, tokenizer files). */
  transformerDir: string;
  /** sentence_bert_config.json's max_seq_length, when it sets one. */
  maxSeqLength: number | undefined;
  doLowerCase: boolean;
  /** Pooling modes in the order their vectors are concatenated. */
  pooling: string[];
  /** The pooling config's embedding dimension (checked against hidden_size). */
  poolingDimension: number | undefined;
  poolingFile: string;
  normalize: boolean;
}

/** The legacy boolean keys, in the order sentence-transformers concatenates their vectors. */
const LEGACY_POOLING_KEYS: [string, string][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len_tokens'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];
const POOLING_MODES = new Set(LEGACY_POOLING_KEYS.map(([, m]) => m));

const kindOf = (type: string): string => type.split('.').pop() ?? type;

export function readSentenceTransformerDir(dir: string): SentenceTransformerLayout {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw new ModelLoadError(`sentence-transformers directory ${dir} does not exist`, { file: dir, cause: e });
  }
  if (!st.isDirectory()) throw new ModelLoadError(`${dir} is not a directory`, { file: dir });
  const modulesFile = path.join(dir, 'modules.json');
  let modules: unknown;
  try {
    modules = JSON.parse(fs.readFileSync(modulesFile, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing) throw new ModelLoadError(`${dir} is not a sentence-transformers directory: missing ${modulesFile}`, { file: modulesFile, cause: e });
    throw new ConfigError(`${modulesFile} is not valid JSON: ${(e as Error).message}`, { file: modulesFile, cause: e });
  }
  if (!Array.isArray(modules) || modules.length === 0) throw new ConfigError(`${modulesFile} must hold a non-empty array of modules`, { file: modulesFile });
  const entries = modules.map((m, i) => {
    const o = m as { type?: unknown; path?: unknown };
    if (m === null || typeof m !== 'object' || typeof o.type !== 'string' || typeof o.path !== 'string') {
      throw new ConfigError(`${modulesFile}: modules[${i}] needs string "type" and "path"`, { file: modulesFile, field: `modules[${i}]` });
    }
    return { kind: kindOf(o.type), type: o.type, dir: path.join(dir, o.path), index: i };
  });
  const expected = ['Transformer', 'Pooling', 'Normalize'];
  entries.forEach((e, i) => {
    if (e.kind !== expected[i] || i > 2) {
      const what = i === 0 ? 'a Transformer module first' : i === 1 ? 'a Pooling module second' : 'nothing but a Normalize module after Pooling';
      throw new ConfigError(`${modulesFile}: modules[${i}] is ${e.type}; supported layouts have ${what} (Transformer → Pooling → optional Normalize)`, {
        file: modulesFile,
        field: `modules[${i}].type`,
      });
    }
  });
  if (entries.length < 2) throw new ConfigError(`${modulesFile}: no Pooling module after the Transformer`, { file: modulesFile, field: 'modules' });

  const transformerDir = entries[0].dir;
  const sbertFile = path.join(transformerDir, 'sentence_bert_config.json');
  const sbert = readJsonObject(sbertFile, false) ?? {};
  const maxSeq = sbert['max_seq_length'];
  if (maxSeq !== undefined && maxSeq !== null && !(Number.isInteger(maxSeq) && (maxSeq as number) > 0)) {
    throw new ConfigError(`${sbertFile}: max_seq_length must be a positive integer`, { file: sbertFile, field: 'max_seq_length' });
  }
  const lower = sbert['do_lower_case'] ?? false;
  if (typeof lower !== 'boolean') throw new ConfigError(`${sbertFile}: do_lower_case must be a boolean`, { file: sbertFile, field: 'do_lower_case' });

  const poolingFile = path.join(entries[1].dir, 'config.json');
  const pool = readJsonObject(poolingFile, true);
  let pooling: string[];
  const mode = pool['pooling_mode'];
  if (mode !== undefined) {
    pooling = typeof mode === 'string' ? [mode] : Array.isArray(mode) ? (mode as string[]) : [];
    if (pooling.length === 0 || pooling.some((m) => typeof m !== 'string' || !POOLING_MODES.has(m))) {
      throw new ConfigError(`${poolingFile}: pooling_mode must be one of or a list of ${[...POOLING_MODES].join(', ')}`, { file: poolingFile, field: 'pooling_mode' });
    }
  } else {
    pooling = LEGACY_POOLING_KEYS.filter(([key]) => pool[key] === true).map(([, m]) => m);
    if (pooling.length === 0) pooling = ['mean'];  // sentence-transformers' default
  }
  const dim = pool['embedding_dimension'] ?? pool['word_embedding_dimension'];
  if (dim !== undefined && !Number.isInteger(dim)) {
    throw new ConfigError(`${poolingFile}: the embedding dimension must be an integer`, { file: poolingFile, field: 'embedding_dimension' });
  }
  return {
    transformerDir,
    maxSeqLength: (maxSeq as number | null | undefined) ?? undefined,
    doLowerCase: lower,
    pooling,
    poolingDimension: dim as number | undefined,
    poolingFile,
    normalize: entries.length === 3,
  };
}
