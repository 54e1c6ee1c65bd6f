/**
 * Model FLOPs of one LoRA training step on a Qwen2 shape, for MFU (model FLOPs utilisation =
 * these FLOPs / step time / the GPU's dense peak). Counted the same for ours and the peer, from
 * the shape alone (what the step must compute, not what an implementation happens to run):
 * - frozen linear layers: forward 2·P and input gradient 2·P per token (no weight gradient);
 * - LoRA (rank r on every linear layer): forward, input gradient and weight gradients, 6·r·(in+out);
 * - causal attention: QKᵀ and PV over an average of S/2 keys, 2·2·(S/2)·H·D forward, twice that backward;
 * - LM head: forward and input gradient (2 + 2)·V·hidden for the tokens that carry a label only
 *   (the loss needs no other logits; bench recipes label the second half of each sequence).
 */
export interface QwenSpec {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
}

export function loraTrainFlops(spec: QwenSpec, batch: number, seq: number, rank: number, labelledTokens: number): number {
  const d = spec.hiddenSize, hd = d / spec.numHeads, kv = spec.numKvHeads * hd, I = spec.intermediateSize;
  // [in, out] of q, k, v, o, gate, up, down
  const linears: [number, number][] = [[d, d], [d, kv], [d, kv], [d, d], [d, I], [d, I], [I, d]];
  const frozen = linears.reduce((n, [i, o]) => n + i * o, 0);
  const lora = linears.reduce((n, [i, o]) => n + rank * (i + o), 0);
  const tokens = batch * seq;
  const perTokenLayer = 4 * frozen + 6 * lora + 3 * 2 * seq * d;
  return tokens * spec.numLayers * perTokenLayer + labelledTokens * 4 * spec.vocabSize * d;
}

/** Dense bf16 peak in TFLOP/s by GPU name (vendor datasheets, without sparsity); undefined when unknown. */
export function bf16PeakTflops(gpuName: string): number | undefined {
  if (/H100|H200|GH200/i.test(gpuName)) return /PCIe/i.test(gpuName) ? 756 : 989;
  if (/A100/i.test(gpuName)) return 312;
  if (/L40S/i.test(gpuName)) return 362;
  return undefined;
}
