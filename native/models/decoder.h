// Decoder: the config-driven decoder-only transformer shared by every family (Qwen2, LLaMA,
// InternLM2, Baichuan2). A family file (models/<family>.cc) only maps its checkpoint's tensor
// names and packing onto these blocks; the math lives here once.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/linear.h"
#include "models/spec.h"

namespace cn {

class WeightStore;

struct AttentionBlock {
  // How q/k/v are stored: three projections (Qwen2, LLaMA), one [q;k;v] projection (Baichuan
  // W_pack), or one projection grouped per KV head as [q×G, k, v] (InternLM2 wqkv).
  enum class Packing { Separate, Contiguous, Grouped };
  Packing packing = Packing::Separate;
  Linear q, k, v, qkv, o;
};

struct MlpBlock {
  Linear gate, up, down;  // down(silu(gate(x)) * up(x))
};

struct DecoderLayer {
  at::Tensor inputNorm, postNorm;  // RMSNorm weights
  AttentionBlock attn;
  MlpBlock mlp;
};

// Keys and values of past positions, per layer, for incremental decoding. Buffers grow by
// doubling, so a decoding step writes its new keys in place instead of copying the whole cache.
struct KvCache {
  std::vector<at::Tensor> k, v;  // [B, Hkv, capacity, D] each; the first prefix + length() positions are used
  at::Tensor keyValid;           // [B, T] bool: which cached positions are real tokens
  int64_t prefix = 0;            // prefix-tuning keys/values stored once before the cached positions
  int64_t length() const { return keyValid.defined() ? keyValid.size(1) : 0; }
};

// The attention mask of one forward pass, built once and shared by every layer.
struct AttentionMask {
  bool causalOnly = true;  // no padding before real tokens, no cache, no ALiBi: SDPA's is_causal
  at::Tensor mask;         // [B, 1, S, T] bool (or float with ALiBi biases) otherwise
  // Padding-free pass (see Decoder::packPadding): the layers' rows are only the real tokens,
  // x [1, N, H]; `packedRows` [N] int64 are their indices in the padded [B·S] layout, which
  // attention scatters q/k/v into (and gathers its output back from).
  at::Tensor packedRows;
  int64_t batch = 0, seq = 0;
  // A decoding step (one new position per row over a cache) on CPU float32: no mask tensor;
  // attention reads which keys are real from this [B, T] bool (kernels/decode_attention.h).
  at::Tensor decodeKeyValid;
};

// Hooks a tuner can install besides per-linear hooks (prompt/prefix tuning, adapters).
struct DecoderHooks {
  // Called on the input embeddings [B, S, H] of every pass; `past` is the number of cached
  // positions (0 on a first pass). It may prepend virtual tokens (then it must extend the key
  // mask and positions it is given: hidden() returns only the states of the real positions) or
  // shift positions (prefix tuning).
  std::function<void(at::Tensor& embeds, at::Tensor& keyValid, at::Tensor& positions, int64_t past)> onEmbeddings;
  // Extra keys/values prepended per layer: returns {k, v} [B, Hkv, P, D] or undefined tensors.
  // Always attendable; with a KV cache they are asked for once, on the first pass, and cached.
  std::function<std::pair<at::Tensor, at::Tensor>(int64_t layer, int64_t batch)> prefixKv;
  // Applied to a layer's attention / MLP output before the residual add.
  std::function<at::Tensor(int64_t layer, const at::Tensor& out)> afterAttention, afterMlp;
};

class Decoder {
 public:
  DecoderSpec spec;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::Device(at::kCPU);
  at::Tensor embed;  // [V, H]
  std::vector<DecoderLayer> layers;
  at::Tensor finalNorm;
  Linear lmHead;  // weight aliases `embed` when tied
  DecoderHooks hooks;
  // Gradient checkpointing: keep only each layer's input during the forward pass and recompute
  // the layer in the backward pass (less memory, ~1/3 more compute). The generators listed in
  // `recomputeRng` (a tuner's dropout) are rewound so the recomputation draws the same numbers.
  bool gradientCheckpointing = false;
  std::vector<at::Generator*> recomputeRng;
  // Padding-free layers: when at least 1/8 of a pass's positions are padding, the projections,
  // norms and MLPs run on the real tokens only, and the returned hidden states are 0 at padded
  // positions (nothing reads them: the loss takes labelled positions, generation each row's
  // last). Off with gradient checkpointing and with tuners that add virtual tokens or prefix keys;
  // CN_PACK_PADDING=0 turns it off for every model (to measure it).
  bool packPadding = packPaddingByDefault();
  static bool packPaddingByDefault();
  // hiddenAt() runs the last layer's output projection and MLP on the wanted rows only;
  // CN_TRIM_LAST_LAYER=0 turns that off for every model (to measure it).
  bool trimLastLayer = trimLastLayerByDefault();
  static bool trimLastLayerByDefault();

  // Builds the model of `spec.family` from a checkpoint's tensors (see models/family.h).
  static std::unique_ptr<Decoder> fromWeights(const DecoderSpec& spec, WeightStore& weights, at::ScalarType dtype, at::Device device);

  // Every projection by its HF module name (tuners pick their targets from these).
  std::vector<Linear*> linears();

  // Final-normed hidden states [B, S, H] for `inputIds` [B, S] (int64).
  //  keyValid [B, S] bool marks real tokens (undefined: all real); positions [B, S] int64
  //  (undefined: from keyValid). With a cache, the new keys/values are appended to it.
  at::Tensor hidden(const at::Tensor& inputIds, at::Tensor keyValid = {}, at::Tensor positions = {}, KvCache* cache = nullptr);

  // The final-normed hidden states [N, H] at the positions where `wanted` [B, S] bool is true,
  // in row-major order: hidden(...)[wanted], with the last layer's output projection, residual
  // and MLP run on those rows only (a loss needs the labelled positions, a prompt its last one;
  // the keys and values of every position are still computed). Wanted positions must be real
  // tokens.
  at::Tensor hiddenAt(const at::Tensor& wanted, const at::Tensor& inputIds, at::Tensor keyValid = {}, KvCache* cache = nullptr);

  // Logits for hidden states [..., H] → [..., V] (fp32).
  at::Tensor logits(const at::Tensor& hidden) const;
  // The head's weight as the logits use it ([V, H]; Baichuan2's normalised rows when normHead).
  at::Tensor headWeight() const;

  // Positions from a key-validity mask: running count of real tokens minus one (0 on padding).
  static at::Tensor positionsFrom(const at::Tensor& keyValid);

 private:
  at::Tensor ropeInvFreq_;  // [D/2] fp32
  at::Tensor alibiSlopes_;  // [Hq] fp32

  void initRope();

 public:
  // One transformer block: x + attn(norm(x)), then + mlp(norm(·)). With `keepRows` (indices into
  // the block's flattened rows) the block returns [1, K, H] for those rows only.
  at::Tensor layerForward(int64_t layer, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                          const AttentionMask& mask, KvCache* cache, const at::Tensor& keepRows = {});

 private:
  at::Tensor forwardLayers(const at::Tensor& inputIds, at::Tensor keyValid, at::Tensor positions, KvCache* cache,
                           const at::Tensor& wanted);
  at::Tensor attention(int64_t layer, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const AttentionMask& mask, KvCache* cache, const at::Tensor& keepRows);
  AttentionMask buildMask(const at::Tensor& allValid, int64_t past, int64_t seq) const;
};

// RMSNorm as HF computes it: in fp32, then weight * x cast back.
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace cn
