// Reference RoPE: exactly native/models/decoder.cc's `q * cos + rotateHalf(q) * sin` (and HF's
// apply_rotary_pos_emb), so the kernel is checked against what the models compute.
#include <ATen/ATen.h>

#include "kernels/rope.h"

namespace cn::kernels {
namespace {

at::Tensor rotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

at::Tensor ropeReference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotateHalf(x) * sin;
}

}  // namespace cn::kernels
