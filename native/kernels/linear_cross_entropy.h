// The LM head and the causal-LM loss in one op, over chunks of rows:
//   Σ_rows (log Σ_v e^(h Wᵀ)[r, v] − (h Wᵀ)[r, target_r]),   rows whose target is −100 left out,
// without ever holding the [rows × vocab] logits: each chunk's logits are made, reduced to one
// log-sum-exp per row and dropped; the backward makes them again chunk by chunk. At Qwen's vocabulary
// (151 936) a 2048-token sequence's logits are 1.2 GB in float32, and their gradient as much again;
// here one chunk's are (chunkRows × vocab). The price: the head's product runs twice (forward and
// backward). native/train/loss.cc uses it where nothing needs the logits (LwF does) and the device
// is CUDA, or CN_CHUNKED_LOSS=1 asks for it (CN_CHUNKED_LOSS=0: never).
#pragma once
#include <ATen/core/Tensor.h>

#include "kernels/kernels.h"

namespace cn::kernels {

// h [N, K], weight [V, K] (the head, as stored), targets [N] int64. The result is a 0-d float32
// sum, differentiable in h and weight. chunkRows ≤ 0: as many rows as keep a chunk's float32
// logits near 32 MiB. The logits are computed in h's dtype and reduced in float32, as
// Decoder::logits and crossEntropySum do. impl: Auto takes the CUDA row kernels for CUDA inputs
// (linear_cross_entropy.cu) and ATen ops elsewhere; Cuda those kernels or an error; Reference the
// ATen ops on any device (the whole-logits reference is linearCrossEntropySumReference).
at::Tensor linearCrossEntropySum(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets, int64_t chunkRows = 0,
                                 Impl impl = Impl::Auto);

// The reference (linear_cross_entropy_ref.cc): the whole logits, then crossEntropySumReference.
at::Tensor linearCrossEntropySumReference(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets);

// The rows per chunk that linearCrossEntropySum uses for this vocabulary when chunkRows ≤ 0:
// ~32 MiB of float32 logits on the ATen path, ~256 MiB of h's dtype with the CUDA row kernels.
int64_t linearCrossEntropyChunkRows(int64_t vocab);
int64_t linearCrossEntropyKernelChunkRows(int64_t vocab, int64_t elementBytes);

}  // namespace cn::kernels
