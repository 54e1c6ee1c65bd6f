// Model families: each maps a checkpoint's tensor names onto the shared Decoder blocks.
// Adding a family = one file models/<family>.cc that defines a builder and registers it with
// CN_REGISTER_FAMILY("name", builder).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace cn {

class Decoder;
class WeightStore;
struct Linear;

using FamilyBuilder = std::function<void(Decoder&, WeightStore&)>;

// The builder of `family`; ERR_CONFIG naming the known families when there is none.
const FamilyBuilder& familyBuilder(const std::string& family);
std::vector<std::string> familyNames();
bool registerFamily(const std::string& family, FamilyBuilder builder);

// Shared helpers for builders.
Linear takeLinear(WeightStore& w, const std::string& name, int64_t out, int64_t in, bool bias);
// The embeddings / final norm / lm_head of a checkpoint, tying the head when the spec says so.
void takeEmbeddingsAndHead(Decoder& m, WeightStore& w, const std::string& embedName, const std::string& normName,
                           const std::string& headName);
// The HF LLaMA layout (q/k/v/o_proj, gate/up/down_proj, input/post_attention_layernorm under
// model.layers.N), which Qwen2 and LLaMA share.
void buildLlamaLayout(Decoder& m, WeightStore& w);

#define CN_REGISTER_FAMILY(name, builder) \
  static const bool cn_family_registered_##builder = ::cn::registerFamily(name, builder)

}  // namespace cn
