// Reference RMSNorm: the exact op sequence of native/models/decoder.cc's rmsNorm (and HF's
// LlamaRMSNorm / Qwen2RMSNorm), so the kernel is checked against what the models compute.
#include <ATen/ATen.h>

#include "kernels/rms_norm.h"

namespace cn::kernels {

at::Tensor rmsNormReference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

}  // namespace cn::kernels
