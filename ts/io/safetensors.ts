/**
 * Safetensors files: read, write, and load whole checkpoints (single file, sharded with
 * model.safetensors.index.json). The work happens in native code (native/io/safetensors.cc): the
 * header is validated strictly before any data is read, writes are atomic, and pickle files are
 * refused, never unpickled. Errors are SafetensorsError (a malformed file or checkpoint; `file`
 * and, where one is at fault, `tensor` are set) or IoError (a file that cannot be opened or
 * written). See docs/formats.md.
 */
import type { DType, NativeTensor } from '../native/bindings';
import { loadNative } from '../native/load';
import { Tensor } from '../tensor';

export interface SafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** [begin, end) byte offsets within the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Tensors in the order of their data in the file. */
  tensors: Record<string, SafetensorsEntry>;
  /** The `__metadata__` map ({} when absent). */
  metadata: Record<string, string>;
  /** Bytes of JSON header and of tensor data. */
  headerSize: number;
  dataSize: number;
}

function wrapAll(natives: Record<string, NativeTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, native] of Object.entries(natives)) out[name] = new Tensor(native);
  return out;
}

/** Reads and validates a file's header without reading tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return loadNative().safetensors.readHeader(path);
}

/** Loads every tensor of one .safetensors file (or only `names`; a name not in the file is an error). */
export async function loadSafetensors(path: string, names?: string[]): Promise<Record<string, Tensor>> {
  return wrapAll(await loadNative().safetensors.load(path, names));
}

/**
 * Loads a checkpoint: a .safetensors file of any name, a model.safetensors.index.json, or a
 * directory holding model.safetensors.index.json (sharded) or model.safetensors. A checkpoint with
 * only pickle weights (.bin/.pt/.pth/.ckpt) is refused with a SafetensorsError.
 */
export async function loadCheckpoint(pathOrDir: string): Promise<Record<string, Tensor>> {
  return wrapAll(await loadNative().safetensors.loadCheckpoint(pathOrDir));
}

/**
 * Writes `tensors` (in iteration order; any device, copied to CPU) and optional string metadata
 * to `path`, atomically: the old file, if any, is replaced only once the new one is complete.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor> | Map<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const natives: Record<string, NativeTensor> = {};
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, tensor] of entries) natives[name] = tensor instanceof Tensor ? tensor.native : (tensor as unknown as NativeTensor);
  await loadNative().safetensors.save(path, natives, metadata);
}
