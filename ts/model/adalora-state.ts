/**
 * AdaLoRA's tensors besides PEFT's lora_A/E/B: the native tuner exposes its rank masks and the
 * allocator's EMAs under "adalora." keys (trainer checkpoints keep them). An adapter directory
 * keeps only PEFT's keys; the masks go to adapter_config.json as module → kept triplets.
 */
import type { NativeTensor } from '../native/bindings';
import { loadNative } from '../native/load';

const MASK = 'adalora.mask.';

/** Splits a native tuner state into the tensors an adapter file holds and the rank mask. */
export function splitAdaloraState(state: Record<string, NativeTensor>): { tensors: Record<string, NativeTensor>; rankMask?: Record<string, boolean[]> } {
  const tensors: Record<string, NativeTensor> = {};
  const rankMask: Record<string, boolean[]> = {};
  let pruned = false;
  for (const [k, t] of Object.entries(state)) {
    if (!k.startsWith('adalora.')) {
      tensors[k] = t;
      continue;
    }
    if (k.startsWith(MASK)) {
      const kept = Array.from(t.toArray() as Uint8Array, (b) => b !== 0);
      rankMask[k.slice(MASK.length)] = kept;
      if (kept.includes(false)) pruned = true;
    }
  }
  return { tensors, rankMask: pruned ? rankMask : undefined };
}

/** The mask tensors the native loader expects for a rank mask read from adapter_config.json. */
export function adaloraMaskTensors(rankMask: Record<string, boolean[]>): Record<string, NativeTensor> {
  const out: Record<string, NativeTensor> = {};
  for (const [module, kept] of Object.entries(rankMask)) {
    out[MASK + module] = loadNative().Tensor.fromArray(Uint8Array.from(kept, (b) => (b ? 1 : 0)), [kept.length], 'bool');
  }
  return out;
}
