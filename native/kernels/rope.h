// Rotary position embedding (RoPE) applied to queries or keys, in the HF "rotate half" layout:
//   out = x * cos + rotate_half(x) * sin,   rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2])
// x is [B, H, S, D] (any strides), cos/sin broadcast to it (the decoder passes [B, 1, S, D]).
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// CUDA kernel when: CUDA tensors; x 4-D of float32/float16/bfloat16 with even D; cos and sin
// 4-D of x's dtype broadcastable to x and not requiring grad. Differentiable in x (and, on the
// reference path, in cos/sin).
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, Impl impl = Impl::Auto);

// The reference (rope_ref.cc): the op sequence of native/models/decoder.cc's attention.
at::Tensor ropeReference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// The CPU kernel (rope_cpu.cc, float32 CPU tensors): one pass forward and one backward.
at::Tensor ropeCpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Why the CPU kernel cannot take these inputs; empty when it can.
std::string ropeCpuProblem(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace cn::kernels
