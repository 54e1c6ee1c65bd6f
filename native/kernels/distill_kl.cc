// distillKl dispatch: the CPU kernel for float32 CPU tensors, else the reference (no CUDA kernel).
#include <ATen/ATen.h>

#include "kernels/distill_kl.h"

namespace cn::kernels {

at::Tensor distillKl(const at::Tensor& student, const at::Tensor& teacher, double temperature, Impl impl) {
  if (impl == Impl::Cuda) chooseCuda(impl, "distillKl", student, "there is no CUDA kernel for distillKl");
  const bool onCpu = student.defined() && student.device().is_cpu();
  if (chooseCpu(impl, "distillKl", student, onCpu ? distillKlCpuProblem(student, teacher) : "")) return distillKlCpu(student, teacher, temperature);
  return distillKlReference(student, teacher, temperature);
}

}  // namespace cn::kernels
