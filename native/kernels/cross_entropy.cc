// crossEntropySum dispatch: the CPU kernel for float32 CPU logits, else the reference (no CUDA
// kernel yet: the CUDA path keeps ATen's).
#include <ATen/ATen.h>

#include <string>

#include "core/errors.h"
#include "kernels/cross_entropy.h"

namespace cn::kernels {

void checkCrossEntropyTargets(const at::Tensor& targets, int64_t vocab) {
  at::Tensor bad = (targets.ne(-100) & (targets.lt(0) | targets.ge(vocab))).nonzero();
  if (bad.numel() == 0) return;
  const int64_t row = bad[0][0].item<int64_t>();
  fail(code::kInvalidArgument,
       "cross-entropy target " + std::to_string(targets[row].item<int64_t>()) + " at row " + std::to_string(row) + " is outside the vocabulary [0, " +
           std::to_string(vocab) + ")",
       {{"field", "labels"}, {"index", std::to_string(row)}});
}

at::Tensor crossEntropySum(const at::Tensor& logits, const at::Tensor& targets, Impl impl) {
  if (impl == Impl::Cuda) chooseCuda(impl, "crossEntropy", logits, "there is no CUDA kernel for crossEntropy");
  const bool onCpu = logits.defined() && logits.device().is_cpu();
  if (chooseCpu(impl, "crossEntropy", logits, onCpu ? crossEntropyCpuProblem(logits, targets) : "")) return crossEntropySumCpu(logits, targets);
  return crossEntropySumReference(logits, targets);
}

}  // namespace cn::kernels
