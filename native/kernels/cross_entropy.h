// The causal-LM loss (native/train/loss.cc): cross-entropy summed over rows,
//   Σ_rows (log Σ_v e^logits[r, v] − logits[r, target_r]),
// rows whose target is −100 left out (as at::cross_entropy_loss's ignore_index). Differentiable
// in the logits.
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// Fails with ERR_INVALID_ARGUMENT naming the first row (field "labels", index) whose target is
// neither −100 nor in [0, vocab). targets [N] int64.
void checkCrossEntropyTargets(const at::Tensor& targets, int64_t vocab);

// logits [N, V] floating, targets [N] int64; the result is a 0-d float32 tensor.
at::Tensor crossEntropySum(const at::Tensor& logits, const at::Tensor& targets, Impl impl = Impl::Auto);

// The reference (cross_entropy_ref.cc): at::cross_entropy_loss with Reduction::Sum, what HF's
// loss computes (summed here; the trainer divides by the labelled tokens of the step).
at::Tensor crossEntropySumReference(const at::Tensor& logits, const at::Tensor& targets);

// The CPU kernel (cross_entropy_cpu.cc, float32 CPU logits): one pass over the logits forward
// for each row's max and log-sum-exp, one backward writing softmax − one-hot. ATen's composition
// writes log_softmax, then zero-fills and scatters an [N, V] gradient for nll_loss and reads both
// again in log_softmax's backward. Why it cannot take these inputs: empty when it can.
at::Tensor crossEntropySumCpu(const at::Tensor& logits, const at::Tensor& targets);
std::string crossEntropyCpuProblem(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace cn::kernels
