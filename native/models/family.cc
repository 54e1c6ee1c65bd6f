#include "models/family.h"

#include <map>

#include "core/errors.h"
#include "models/decoder.h"
#include "models/weights.h"

namespace cn {
namespace {
std::map<std::string, FamilyBuilder>& registry() {
  static std::map<std::string, FamilyBuilder> families;  // function-local: no init-order issues
  return families;
}
}  // namespace

bool registerFamily(const std::string& family, FamilyBuilder builder) {
  registry()[family] = std::move(builder);
  return true;
}

std::vector<std::string> familyNames() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

const FamilyBuilder& familyBuilder(const std::string& family) {
  auto it = registry().find(family);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : familyNames()) known += (known.empty() ? "" : ", ") + n;
    fail(code::kConfig, "unknown model family '" + family + "' (known: " + known + ")", {{"field", "family"}});
  }
  return it->second;
}

Linear takeLinear(WeightStore& w, const std::string& name, int64_t out, int64_t in, bool bias) {
  Linear l;
  l.name = name;
  l.weight = w.take(name + ".weight", {out, in});
  if (bias) l.bias = w.take(name + ".bias", {out});
  return l;
}

void takeEmbeddingsAndHead(Decoder& m, WeightStore& w, const std::string& embedName, const std::string& normName,
                           const std::string& headName) {
  const DecoderSpec& s = m.spec;
  m.embed = w.take(embedName, {s.vocabSize, s.hiddenSize});
  m.finalNorm = w.take(normName, {s.hiddenSize});
  m.lmHead.name = headName;
  if (s.tieWordEmbeddings) {
    m.lmHead.weight = m.embed;
    w.ignore(headName + ".weight");  // some checkpoints store the tied copy too
  } else {
    m.lmHead.weight = w.take(headName + ".weight", {s.vocabSize, s.hiddenSize});
  }
}

void buildLlamaLayout(Decoder& m, WeightStore& w) {
  const DecoderSpec& s = m.spec;
  takeEmbeddingsAndHead(m, w, "model.embed_tokens.weight", "model.norm.weight", "lm_head");
  const int64_t H = s.hiddenSize, D = s.headDim, I = s.intermediateSize;
  for (int64_t i = 0; i < s.numLayers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    DecoderLayer layer;
    layer.inputNorm = w.take(p + "input_layernorm.weight", {H});
    layer.postNorm = w.take(p + "post_attention_layernorm.weight", {H});
    layer.attn.packing = AttentionBlock::Packing::Separate;
    layer.attn.q = takeLinear(w, p + "self_attn.q_proj", s.numHeads * D, H, s.qkvBias);
    layer.attn.k = takeLinear(w, p + "self_attn.k_proj", s.numKvHeads * D, H, s.qkvBias);
    layer.attn.v = takeLinear(w, p + "self_attn.v_proj", s.numKvHeads * D, H, s.qkvBias);
    layer.attn.o = takeLinear(w, p + "self_attn.o_proj", H, s.numHeads * D, s.oBias);
    layer.mlp.gate = takeLinear(w, p + "mlp.gate_proj", I, H, s.mlpBias);
    layer.mlp.up = takeLinear(w, p + "mlp.up_proj", I, H, s.mlpBias);
    layer.mlp.down = takeLinear(w, p + "mlp.down_proj", H, I, s.mlpBias);
    w.ignore(p + "self_attn.rotary_emb.inv_freq");
    m.layers.push_back(std::move(layer));
  }
}

}  // namespace cn
