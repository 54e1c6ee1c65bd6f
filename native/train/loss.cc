#include "train/loss.h"

#include <cstdlib>
#include <string>

#include "kernels/cross_entropy.h"
#include "kernels/linear_cross_entropy.h"
#include "models/decoder.h"

namespace cn {

namespace {

// Whether the loss may skip the [tokens × vocab] logits (kernels/linear_cross_entropy.h): the head
// is a plain projection (no tuner on it), and CN_CHUNKED_LOSS allows it ("1": always, "0": never,
// unset: on CUDA, where memory is what the logits cost; on CPU the fused kernel over whole logits is
// faster). Read on every call, so a process can switch it between fits.
bool lossByChunks(const Decoder& model) {
  if (model.lmHead.hook) return false;
  const char* env = std::getenv("CN_CHUNKED_LOSS");
  if (env != nullptr && std::string(env) == "1") return true;
  if (env != nullptr && std::string(env) == "0") return false;
  return model.device.is_cuda();
}

}  // namespace

std::pair<at::Tensor, at::Tensor> labelledHidden(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels,
                                                 const at::Tensor& keyValid) {
  const int64_t B = inputIds.size(0), S = inputIds.size(1);
  at::Tensor targets = labels.narrow(1, 1, S - 1).to(model.device);
  at::Tensor select = targets.ne(-100);
  // position t predicts label t + 1: the last position predicts nothing
  at::Tensor wanted = at::cat({select, at::zeros({B, 1}, select.options())}, 1);
  return {model.hiddenAt(wanted, inputIds, keyValid), targets.index({select})};
}

LossSum causalLmLossSum(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels, const at::Tensor& keyValid,
                        bool keepLogits) {
  auto [h, targets] = labelledHidden(model, inputIds, labels, keyValid);
  LossSum out;
  out.tokens = targets.size(0);
  if (out.tokens == 0) {
    out.sum = (h.sum() * 0.0).to(at::kFloat);  // keeps the graph connected
    return out;
  }
  if (!keepLogits && lossByChunks(model)) {
    out.sum = kernels::linearCrossEntropySum(h, model.headWeight(), targets);
    return out;
  }
  out.logits = model.logits(h);  // [N, V] fp32
  out.sum = kernels::crossEntropySum(out.logits, targets);  // the CPU kernel, or ATen's
  return out;
}

}  // namespace cn
