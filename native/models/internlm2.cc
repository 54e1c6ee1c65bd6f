// InternLM2 / InternLM2.5: its own names (tok_embeddings, attention.wqkv/wo, feed_forward.w1/w3/w2,
// attention_norm/ffn_norm, output) and a packed wqkv grouped per KV head as [q × G, k, v].
#include "models/decoder.h"
#include "models/family.h"
#include "models/weights.h"

namespace cn {
namespace {
void buildInternLM2(Decoder& m, WeightStore& w) {
  const DecoderSpec& s = m.spec;
  takeEmbeddingsAndHead(m, w, "model.tok_embeddings.weight", "model.norm.weight", "output");
  const int64_t H = s.hiddenSize, D = s.headDim, I = s.intermediateSize;
  const int64_t packed = (s.numHeads + 2 * s.numKvHeads) * D;
  for (int64_t i = 0; i < s.numLayers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    DecoderLayer layer;
    layer.inputNorm = w.take(p + "attention_norm.weight", {H});
    layer.postNorm = w.take(p + "ffn_norm.weight", {H});
    layer.attn.packing = AttentionBlock::Packing::Grouped;
    layer.attn.qkv = takeLinear(w, p + "attention.wqkv", packed, H, s.qkvBias);
    layer.attn.o = takeLinear(w, p + "attention.wo", H, s.numHeads * D, s.oBias);
    layer.mlp.gate = takeLinear(w, p + "feed_forward.w1", I, H, false);
    layer.mlp.up = takeLinear(w, p + "feed_forward.w3", I, H, false);
    layer.mlp.down = takeLinear(w, p + "feed_forward.w2", H, I, false);
    m.layers.push_back(std::move(layer));
  }
}
}  // namespace
CN_REGISTER_FAMILY("internlm2", buildInternLM2);
}  // namespace cn
