// The reference of hash dropout (hash_dropout.h): the mask made on the host from
// hash_dropout_mask.h, element by element, then x · mask · 1/(1 − p) in ATen ops.
#include <ATen/ATen.h>

#include "kernels/hash_dropout.h"
#include "kernels/hash_dropout_mask.h"

namespace cn::kernels {

at::Tensor hashDropoutMask(const at::Tensor& x, uint64_t seed, double p) {
  at::Tensor mask = at::empty(x.sizes(), at::kFloat);
  float* m = mask.data_ptr<float>();
  const uint32_t threshold = hashDropThreshold(p);
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) m[i] = hashKeep(seed, static_cast<uint64_t>(i), threshold) ? 1.0f : 0.0f;
  return mask.to(x.device(), x.scalar_type());
}

at::Tensor hashDropoutReference(const at::Tensor& x, uint64_t seed, double p) {
  return x * hashDropoutMask(x, seed, p) * (1.0 / (1.0 - p));
}

}  // namespace cn::kernels
