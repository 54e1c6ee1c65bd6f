// Knowledge-distillation KL of LwF (native/methods/lwf.cc), summed over rows:
//   Σ_rows Σ_v p_t(v) (log p_t(v) − log p_s(v)),   p = softmax(logits / T)
// Differentiable in the student logits only (the teacher is a constant).
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

// student, teacher [N, V]; the result is a 0-d float32 tensor.
at::Tensor distillKl(const at::Tensor& student, const at::Tensor& teacher, double temperature, Impl impl = Impl::Auto);

// The reference (distill_kl_ref.cc): log_softmax of both, then at::kl_div with a log target.
at::Tensor distillKlReference(const at::Tensor& student, const at::Tensor& teacher, double temperature);

// The CPU kernel (distill_kl_cpu.cc, float32 CPU tensors): one pass over both forward, one
// backward (the reference makes ~13 passes over these [tokens × vocab] tensors, the largest of
// an LwF step). Why it cannot take these inputs: empty when it can.
at::Tensor distillKlCpu(const at::Tensor& student, const at::Tensor& teacher, double temperature);
std::string distillKlCpuProblem(const at::Tensor& student, const at::Tensor& teacher);

}  // namespace cn::kernels
