// Host entry points of the CUDA kernels (defined in native/kernels/*.cu, compiled only when
// CN_WITH_CUDA). The callers (<op>.cc) allocate every output and check shapes, dtypes and
// devices; a launcher only checks what its kernel assumes and launches on the current stream.
// Tensors here are CUDA tensors; "rows" are contiguous rows of the last dimension.
#pragma once
#include <ATen/core/TensorBase.h>

namespace cn::kernels::cuda {

// RMSNorm over the last dim of x [N, C] (contiguous), weight [C] of x's dtype.
//   out  = weight * round_T(x * rstd)            [N, C], x's dtype
//   rstd = 1 / sqrt(mean(x^2) + eps)             [N] float32 (saved for backward)
void rmsNormForward(const at::TensorBase& x, const at::TensorBase& weight, double eps,
                    const at::TensorBase& out, const at::TensorBase& rstd);
// Given dout [N, C]: dx [N, C] (x's dtype) and, when dwPartial is defined, per-block partial
// sums of dweight in dwPartial [rmsNormBackwardBlocks(N), C] float32 (the caller sums dim 0:
// deterministic, no atomics).
int64_t rmsNormBackwardBlocks(int64_t rows);
void rmsNormBackward(const at::TensorBase& dout, const at::TensorBase& x, const at::TensorBase& weight,
                     const at::TensorBase& rstd, const at::TensorBase& dx, const at::TensorBase& dwPartial);

// SwiGLU: out = silu(gate) * up, elementwise over contiguous tensors of one shape and dtype.
void swigluForward(const at::TensorBase& gate, const at::TensorBase& up, const at::TensorBase& out);
void swigluBackward(const at::TensorBase& dout, const at::TensorBase& gate, const at::TensorBase& up,
                    const at::TensorBase& dgate, const at::TensorBase& dup);

// Rotary embedding on x [B, H, S, D] (any strides, last dim contiguous) with cos/sin expanded to
// x's shape (broadcast dims have stride 0, last dim contiguous):
//   out = x * cos + rotate_half(x) * sin,  rotate_half(x) = cat(-x[D/2:], x[:D/2])
// Backward: dx = dout * cos + rotate_half^T(dout * sin). out/dx have their own strides.
void ropeForward(const at::TensorBase& x, const at::TensorBase& cos, const at::TensorBase& sin,
                 const at::TensorBase& out);
void ropeBackward(const at::TensorBase& dout, const at::TensorBase& cos, const at::TensorBase& sin,
                  const at::TensorBase& dx);

// The chunked LM-head loss's row work (linear_cross_entropy.cu), on logits [rows, vocab] contiguous
// in the storage dtype, targets [rows] int64 (−100: no target; others checked by the caller):
//   forward:  lse[r] = log Σ_v e^logits[r, v];  rowLoss[r] = lse[r] − logits[r, target_r] (0 without)
//   backward: logits[r, v] ← (e^(logits[r, v] − lse[r]) − [v = target_r]) · g  in place (0 without),
//             g = *gradOut (float32, one value on the device)
void ceRowsForward(const at::TensorBase& logits, const at::TensorBase& targets, const at::TensorBase& lse,
                   const at::TensorBase& rowLoss);
void ceRowsBackward(const at::TensorBase& logits, const at::TensorBase& targets, const at::TensorBase& lse,
                    const at::TensorBase& gradOut);

// Hash dropout (hash_dropout.cu) over contiguous in/out of one size and dtype, element i of the
// flat order kept iff hashKeep(seed, i, threshold) (hash_dropout_mask.h):
//   out = in · keep · scale,  or out += in · keep · scale when accumulate
void hashDropoutApply(const at::TensorBase& in, uint64_t seed, float scale, uint32_t threshold, const at::TensorBase& out,
                      bool accumulate);

}  // namespace cn::kernels::cuda
