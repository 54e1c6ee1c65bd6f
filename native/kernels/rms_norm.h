// RMSNorm over the last dimension, as HF (and native/models/decoder.cc) computes it: in fp32,
// then weight times the normalised x cast back to x's dtype:
//   weight * (xf * rsqrt(mean(xf^2, -1) + eps)).to(x.dtype),   xf = x.float()
// The result has the promoted dtype of weight and x.
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// CUDA kernel when: CUDA tensors, x float32/float16/bfloat16, weight [C] of x's dtype, C <= 16384.
// Differentiable in x and weight on both paths (once on the CUDA path: no double backward).
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps, Impl impl = Impl::Auto);

// The reference (rms_norm_ref.cc): ATen ops only.
at::Tensor rmsNormReference(const at::Tensor& x, const at::Tensor& weight, double eps);

// The CPU kernel (rms_norm_cpu.cc, float32 CPU tensors): one pass forward and one backward.
at::Tensor rmsNormCpu(const at::Tensor& x, const at::Tensor& weight, double eps);
// Why the CPU kernel cannot take these inputs; empty when it can.
std::string rmsNormCpuProblem(const at::Tensor& x, const at::Tensor& weight);

}  // namespace cn::kernels
