// Matrix products on CPU through the faster of libtorch's two fp32 GEMM libraries.
//
// ATen's at::mm/addmm call MKL for float32. On AMD CPUs MKL takes its generic AVX2 path and
// reaches about half the machine's peak; oneDNN (bundled in the same libtorch) dispatches on
// the instruction set and runs AVX-512 there: 1.2-2.5x on the decoder's shapes (measured on a
// 2-core AMD EPYC, docs/performance.md). The engine's linear layers and LoRA products go
// through gemm()/gemmInto(); everything else keeps ATen's kernels.
//
// Backend: CN_CPU_GEMM=onednn|mkl. Default: onednn when libtorch has it and ATen's oneDNN matmul
// accepts the CPU (it needs AVX-512); on an AVX2-only CPU "mixed" (see GemmBackend). CUDA,
// non-fp32 and oneDNN-less builds always use at::mm.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace cn::kernels {

// Aten: MKL for every product. OneDnn: ATen's oneDNN matmul for every product. Mixed (CPUs the
// oneDNN matmul refuses): MKL, with oneDNN's inner product for the linear layers it is faster at.
enum class GemmBackend { Aten, OneDnn, Mixed };

// The backend CPU float32 products use in this process (fixed at the first call).
GemmBackend cpuGemmBackend();
std::string gemmBackendName(GemmBackend b);

// a [M, K] · b [K, N] -> [M, N]. a and b may be transposed views (either of the last two
// strides 1); anything else is made contiguous first.
at::Tensor gemm(const at::Tensor& a, const at::Tensor& b);

// out = beta · out + alpha · (a · b), in place; out [M, N] contiguous.
void gemmInto(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b, double beta, double alpha);

// A linear layer's product x [M, K] · wᵀ (+ bias) with w [N, K] as stored: gemm() except where
// the Mixed backend sends the shape to oneDNN's inner product. Always a fresh tensor.
at::Tensor linearProduct(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias);


}  // namespace cn::kernels
