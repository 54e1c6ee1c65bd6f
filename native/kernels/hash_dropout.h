// Dropout with a counter-based mask: out = x · keep(seed, i) / (1 − p), keep from
// hash_dropout_mask.h. The LoRA linear uses it on CUDA (kernels::loraLinear with a seed): the mask
// is never stored (the backward recomputes it) and never drawn on the host (torch's dropout saves
// a mask the size of x; the CPU-drawn mask of lora_common.h would cross the bus every call).
#pragma once
#include <cstdint>

#include "kernels/kernels.h"

namespace cn::kernels {

// Differentiable in x (the backward applies the same mask to the gradient). CUDA kernel for CUDA
// tensors of a floating dtype; the reference elsewhere. p in [0, 1).
at::Tensor hashDropout(const at::Tensor& x, uint64_t seed, double p, Impl impl = Impl::Auto);

// No autograd: out = in · keep / (1 − p) when `accumulate` is false, out += that when true. `in`
// and `out` have one shape; element i is the i-th of `in` in row-major order (in made contiguous).
void hashDropoutInto(const at::Tensor& out, const at::Tensor& in, uint64_t seed, double p, bool accumulate, Impl impl = Impl::Auto);

// No autograd: a fresh tensor in · keep / (1 − p) (what the Functions that differentiate the
// dropout themselves use: this op's own, and the LoRA node's).
at::Tensor hashDropped(const at::Tensor& in, uint64_t seed, double p, Impl impl = Impl::Auto);

// The reference (hash_dropout_ref.cc): the mask by a host loop over the indices, then ATen ops.
at::Tensor hashDropoutReference(const at::Tensor& x, uint64_t seed, double p);
// The mask itself, as 0/1 of x's dtype on x's device.
at::Tensor hashDropoutMask(const at::Tensor& x, uint64_t seed, double p);

}  // namespace cn::kernels
