#include "train/loss.h"

#include "kernels/cross_entropy.h"
#include "models/decoder.h"

namespace cn {

std::pair<at::Tensor, at::Tensor> labelledHidden(const at::Tensor& hidden, const at::Tensor& labels) {
  const int64_t S = hidden.size(1);
  at::Tensor targets = labels.narrow(1, 1, S - 1).to(hidden.device());
  at::Tensor select = targets.ne(-100);
  at::Tensor h = hidden.narrow(1, 0, S - 1).index({select});
  return {h, targets.index({select})};
}

LossSum causalLmLossSum(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels, const at::Tensor& keyValid) {
  at::Tensor hidden = model.hidden(inputIds, keyValid);
  auto [h, targets] = labelledHidden(hidden, labels);
  LossSum out;
  out.tokens = targets.size(0);
  if (out.tokens == 0) {
    out.sum = (hidden.sum() * 0.0).to(at::kFloat);  // keeps the graph connected
    return out;
  }
  out.logits = model.logits(h);  // [N, V] fp32
  out.sum = kernels::crossEntropySum(out.logits, targets);  // the CPU kernel, or ATen's
  return out;
}

}  // namespace cn
