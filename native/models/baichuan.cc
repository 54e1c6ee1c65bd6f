// Baichuan2: the LLaMA names with a packed W_pack = [q; k; v] projection, a NormHead (lm_head
// rows L2-normalised at every forward: spec.normHead) and, in the 13B model, ALiBi instead of
// RoPE (spec.useAlibi).
#include "models/decoder.h"
#include "models/family.h"
#include "models/weights.h"

namespace cn {
namespace {
void buildBaichuan(Decoder& m, WeightStore& w) {
  const DecoderSpec& s = m.spec;
  takeEmbeddingsAndHead(m, w, "model.embed_tokens.weight", "model.norm.weight", "lm_head");
  const int64_t H = s.hiddenSize, D = s.headDim, I = s.intermediateSize;
  for (int64_t i = 0; i < s.numLayers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    DecoderLayer layer;
    layer.inputNorm = w.take(p + "input_layernorm.weight", {H});
    layer.postNorm = w.take(p + "post_attention_layernorm.weight", {H});
    layer.attn.packing = AttentionBlock::Packing::Contiguous;
    layer.attn.qkv = takeLinear(w, p + "self_attn.W_pack", (s.numHeads + 2 * s.numKvHeads) * D, H, s.qkvBias);
    layer.attn.o = takeLinear(w, p + "self_attn.o_proj", H, s.numHeads * D, s.oBias);
    layer.mlp.gate = takeLinear(w, p + "mlp.gate_proj", I, H, false);
    layer.mlp.up = takeLinear(w, p + "mlp.up_proj", I, H, false);
    layer.mlp.down = takeLinear(w, p + "mlp.down_proj", H, I, false);
    m.layers.push_back(std::move(layer));
  }
}
}  // namespace
CN_REGISTER_FAMILY("baichuan", buildBaichuan);
}  // namespace cn
