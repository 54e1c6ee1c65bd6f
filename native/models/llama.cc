// LLaMA (1/2/3/3.1): the HF LLaMA layout; optional attention/MLP biases and llama3 RoPE scaling
// arrive through the spec.
#include "models/family.h"

namespace cn {
namespace {
void buildLlama(Decoder& m, WeightStore& w) { buildLlamaLayout(m, w); }
}  // namespace
CN_REGISTER_FAMILY("llama", buildLlama);
}  // namespace cn
