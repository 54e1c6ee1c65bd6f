// crossEntropySum dispatch: the CPU kernel for float32 CPU logits, else the reference (no CUDA
// kernel yet: the CUDA path keeps ATen's).
#include <ATen/ATen.h>

#include "kernels/cross_entropy.h"

namespace cn::kernels {

at::Tensor crossEntropySum(const at::Tensor& logits, const at::Tensor& targets, Impl impl) {
  if (impl == Impl::Cuda) chooseCuda(impl, "crossEntropy", logits, "there is no CUDA kernel for crossEntropy");
  const bool onCpu = logits.defined() && logits.device().is_cpu();
  if (chooseCpu(impl, "crossEntropy", logits, onCpu ? crossEntropyCpuProblem(logits, targets) : "")) return crossEntropySumCpu(logits, targets);
  return crossEntropySumReference(logits, targets);
}

}  // namespace cn::kernels
