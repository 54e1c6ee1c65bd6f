// x Wᵀ (+ b) for a few rows of x (decoding), float32 CPU: few_rows_gemm_cpu.cc says why it beats
// MKL there. linearProduct() (kernels/gemm.h) sends the products it applies to here;
// CN_FEW_ROWS_GEMM=0 turns that off (to measure it).
#pragma once
#include <ATen/core/Tensor.h>

namespace cn::kernels {

// The most rows of x it takes (above, MKL's threads pay off).
constexpr int64_t kFewRowsMax = 32;

// x [M, K] with 1 ≤ M ≤ kFewRowsMax, w [N, K] contiguous, bias [N] or undefined, all float32 CPU.
bool fewRowsGemmApplies(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias);
bool fewRowsGemmEnabled();

// y [M, N] = x wᵀ + bias, a fresh tensor.
at::Tensor fewRowsGemm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias);

}  // namespace cn::kernels
