// SwiGLU, the gated MLP activation of LLaMA/Qwen2: silu(gate) * up, elementwise.
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// CUDA kernel when: CUDA tensors of one shape and dtype (float32/float16/bfloat16).
// Differentiable in gate and up on both paths (once on the CUDA path).
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up, Impl impl = Impl::Auto);

// The reference (swiglu_ref.cc): at::silu(gate) * up, as native/models/decoder.cc computes it.
at::Tensor swigluReference(const at::Tensor& gate, const at::Tensor& up);

// The CPU kernel (swiglu_cpu.cc, float32 CPU tensors): one pass forward and one backward.
at::Tensor swigluCpu(const at::Tensor& gate, const at::Tensor& up);
// Why the CPU kernel cannot take these inputs; empty when it can.
std::string swigluCpuProblem(const at::Tensor& gate, const at::Tensor& up);

}  // namespace cn::kernels
