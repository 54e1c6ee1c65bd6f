// The decoder's projections as explicit autograd Functions over kernels/gemm.h, so the forward
// and the backward products both run on the fast CPU GEMM (at::linear's backward would call
// at::mm, i.e. MKL):
//   linear:      y = x Wᵀ + b
//   loraLinear:  y = x Wᵀ + b + s · (h Aᵀ) Bᵀ     (h = dropout(x), or x itself)
// loraLinear is one node: the base and low-rank products write into one output, and its
// backward computes dx = g W + s (g B) A in one accumulation when h is x.
// loraLinear runs the same Function on CUDA (any floating dtype; its products are cuBLAS GEMMs
// there), for the in-place accumulations. Elsewhere (other CPU dtypes, CN_CPU_GEMM=mkl) and for
// linear on CUDA these fall back to the ATen composition (linearReference / loraLinearReference),
// which is also what the tests compare against.
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// x [..., in], weight [out, in], bias [out] or undefined.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {}, Impl impl = Impl::Auto);
at::Tensor linearReference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// h: the low-rank branch's input (x after dropout); undefined means x. a [r, in], b [out, r].
at::Tensor loraLinear(const at::Tensor& x, const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias,
                      const at::Tensor& a, const at::Tensor& b, double scaling, Impl impl = Impl::Auto);
// loraLinear with h = hashDropout(x, seed, p) (kernels/hash_dropout.h), made inside the node and
// again in its backward, never saved: what the LoRA tuner runs on CUDA with dropout > 0. The
// reference: loraLinearReference with that h.
at::Tensor loraLinearHashDropout(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b,
                                 double scaling, double p, uint64_t seed, Impl impl = Impl::Auto);
at::Tensor loraLinearReference(const at::Tensor& x, const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias,
                               const at::Tensor& a, const at::Tensor& b, double scaling);

}  // namespace cn::kernels
