// Pieces shared by the virtual-token tuners (prompt tuning, prefix tuning, P-tuning): PEFT's
// default initialisations and the hook that prepends N virtual-token embeddings to a batch.
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/options.h"
#include "models/decoder.h"

namespace cn {

// A trainable fp32 tensor on `device` (kept fp32 whatever the model dtype; cast where used).
inline at::Tensor trainable(at::Tensor t, at::Device device) {
  t = t.to(device, at::kFloat).contiguous();
  t.set_requires_grad(true);
  return t;
}

// torch.nn.Embedding's default init: N(0, 1).
inline at::Tensor normalInit(at::IntArrayRef shape, at::Generator& gen) { return at::empty(shape, at::kFloat).normal_(0.0, 1.0, gen); }

// torch.nn.Linear / LSTM default init: U(±1/√fanIn) for weights and biases.
inline at::Tensor uniformInit(at::IntArrayRef shape, int64_t fanIn, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
  return at::empty(shape, at::kFloat).uniform_(-bound, bound, gen);
}

// numVirtualTokens, checked (≥ 1); PEFT has no default, we use 20 as ms-swift does.
inline int64_t numVirtualTokens(const Options& o) {
  const int64_t n = o.integer("numVirtualTokens", 20);
  if (n < 1) fail(code::kConfig, o.scope() + ".numVirtualTokens must be ≥ 1", {{"field", o.scope() + ".numVirtualTokens"}});
  return n;
}

// On a first pass (no cache yet), puts `prompts` [N, H] before every row's embeddings: the
// virtual tokens are real keys (mask true) at positions 0..N-1, and the real tokens' positions
// move up by N, as PEFT feeds them to transformers (inputs_embeds with the mask extended by ones).
inline void prependVirtualTokens(const at::Tensor& prompts, at::Tensor& embeds, at::Tensor& keyValid, at::Tensor& positions) {
  const int64_t B = embeds.size(0), N = prompts.size(0);
  at::Tensor p = prompts.to(embeds.scalar_type()).unsqueeze(0).expand({B, N, prompts.size(1)});
  embeds = at::cat({p, embeds}, 1);
  keyValid = at::cat({at::ones({B, N}, keyValid.options()), keyValid}, 1);
  at::Tensor virt = at::arange(N, positions.options()).unsqueeze(0).expand({B, N});
  positions = at::cat({virt, positions + N}, 1);
}

}  // namespace cn
