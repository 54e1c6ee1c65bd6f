// Qwen2 / Qwen2.5: the LLaMA layout with q/k/v biases (spec.qkvBias) and, in the small sizes,
// tied embeddings. GQA, RoPE with rope_theta, RMSNorm and SwiGLU come from the shared blocks.
#include "models/family.h"

namespace cn {
namespace {
void buildQwen2(Decoder& m, WeightStore& w) { buildLlamaLayout(m, w); }
}  // namespace
CN_REGISTER_FAMILY("qwen2", buildQwen2);
}  // namespace cn
