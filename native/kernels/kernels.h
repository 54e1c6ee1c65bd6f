// Fused ops with CUDA and CPU kernels and a plain-libtorch reference (native/kernels/, one op per file):
//   <op>.h       the op's declaration (this header's Impl picks the path)
//   <op>_ref.cc  the reference: ATen ops, always compiled (what HF computes)
//   <op>_cpu.cc  the CPU float32 kernel and its autograd Function (what the models run on CPU)
//   <op>.cu      the CUDA kernels (compiled only with a CUDA libtorch: CN_WITH_CUDA)
//   <op>.cc      dispatch, and the autograd Function around the CUDA kernels
// Every kernel is tested against its reference (test/kernels.test.ts).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace cn::kernels {

enum class Impl {
  Auto,       // the CUDA kernel for CUDA tensors it supports (when built with CUDA), the CPU kernel
              // for CPU tensors it supports, else the reference
  Reference,  // always the reference (ATen ops; autograd through them)
  Cuda,       // the CUDA kernel, or an error saying why it cannot run
  Cpu,        // the CPU kernel (<op>_cpu.cc, float32), or an error saying why it cannot run
};

// "auto" | "reference" | "cuda" | "cpu"; throws ERR_INVALID_ARGUMENT otherwise.
Impl parseImpl(const std::string& name);

// Whether this binary has the CUDA kernels compiled in.
constexpr bool cudaBuilt() {
#ifdef CN_WITH_CUDA
  return true;
#else
  return false;
#endif
}

// Decides the path for an op: true for the CUDA kernel. `unsupported` is empty when the kernel
// can take these inputs, else why not (used in the error for Impl::Cuda).
bool chooseCuda(Impl impl, const char* op, const at::Tensor& main, const std::string& unsupported);

// The same for the CPU kernels: true for the CPU kernel.
bool chooseCpu(Impl impl, const char* op, const at::Tensor& main, const std::string& unsupported);

// A default-on switch read from the environment: false only when `name` is set to "0" (the
// CN_<KERNEL>=0 switches that turn a kernel off to measure it).
bool switchedOn(const char* name);

// Why a kernel cannot take `t` given the dtype/device of `like`; empty when it can.
std::string kernelInputProblem(const at::Tensor& t, const char* name, const at::Tensor& like);

}  // namespace cn::kernels
