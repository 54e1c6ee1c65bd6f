// LoRA's skinny products on CPU float32, for ranks 4, 8, 16, 32 and 64:
//   down  = h Aᵀ                       [N, r]   (forward)
//   dDown = s · g B,  dB = s · gᵀ down          (backward: one pass over g reads it once for both)
//   dA    = dDownᵀ h                   [r, in]  (backward)
//   y    += s · down Bᵀ,  dx += dDown A          (forward's and backward's rank-r update of a product)
// with h [N, in], a [r, in], b [out, r], g [N, out]. MKL runs these products, with one side only
// r wide, at 10-25 GFLOP/s on 2 AVX2 cores (a tenth of its square-product speed; measured with
// CN_PROFILE_SHAPES in bench/ours/train-step.ts), and they were ~15 % of a tiny LoRA step. Here
// the r-wide side lives in vector registers and the long side streams through once.
// kernels/linear.cc's LoRA node calls these when lowRankCpuSupports(); CN_CPU_LOW_RANK=aten turns
// them off. test/kernels.test.ts checks the node, forward and backward, against the ATen
// composition at each rank.
#pragma once
#include <ATen/core/Tensor.h>

namespace cn::kernels {

// CPU float32 a [r, in] of a supported rank, and the fused kernels not switched off.
bool lowRankCpuSupports(const at::Tensor& a);

at::Tensor lowRankDownCpu(const at::Tensor& h, const at::Tensor& a);

// dDown [N, r] and dB [out, r]; either may be left out (nullptr).
void lowRankGradOutputCpu(const at::Tensor& g, const at::Tensor& b, const at::Tensor& down, double scaling,
                          at::Tensor* dDown, at::Tensor* dB);

at::Tensor lowRankGradACpu(const at::Tensor& dDown, const at::Tensor& h);

// y [N, M] (contiguous) += scaling · d [N, r] · w [r, M], in place: the forward's up-projection
// (w = Bᵀ) and the backward's input gradient (w = A). MKL/oneDNN run these r-deep products at a
// fraction of their speed (a read-modify-write of y per call); this is one pass over y.
void lowRankUpAddCpu(const at::Tensor& y, const at::Tensor& d, const at::Tensor& w, double scaling);

}  // namespace cn::kernels
