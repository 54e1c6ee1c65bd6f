// The reference of the chunked LM head + loss: the whole [rows × vocab] logits, then ATen's
// cross-entropy (what HF computes).
#include <ATen/ATen.h>

#include "kernels/cross_entropy.h"
#include "kernels/linear_cross_entropy.h"

namespace cn::kernels {

at::Tensor linearCrossEntropySumReference(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets) {
  return crossEntropySumReference(at::matmul(h, weight.t()).to(at::kFloat), targets);
}

}  // namespace cn::kernels
