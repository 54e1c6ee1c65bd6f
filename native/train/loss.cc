#include "train/loss.h"

#include "kernels/cross_entropy.h"
#include "models/decoder.h"

namespace cn {

std::pair<at::Tensor, at::Tensor> labelledHidden(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels,
                                                 const at::Tensor& keyValid) {
  const int64_t B = inputIds.size(0), S = inputIds.size(1);
  at::Tensor targets = labels.narrow(1, 1, S - 1).to(model.device);
  at::Tensor select = targets.ne(-100);
  // position t predicts label t + 1: the last position predicts nothing
  at::Tensor wanted = at::cat({select, at::zeros({B, 1}, select.options())}, 1);
  return {model.hiddenAt(wanted, inputIds, keyValid), targets.index({select})};
}

LossSum causalLmLossSum(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels, const at::Tensor& keyValid) {
  auto [h, targets] = labelledHidden(model, inputIds, labels, keyValid);
  LossSum out;
  out.tokens = targets.size(0);
  if (out.tokens == 0) {
    out.sum = (h.sum() * 0.0).to(at::kFloat);  // keeps the graph connected
    return out;
  }
  out.logits = model.logits(h);  // [N, V] fp32
  out.sum = kernels::crossEntropySum(out.logits, targets);  // the CPU kernel, or ATen's
  return out;
}

}  // namespace cn
