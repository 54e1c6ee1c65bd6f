#include "kernels/kernels.h"

#include <cstdlib>

#include "core/errors.h"

namespace cn::kernels {

Impl parseImpl(const std::string& name) {
  if (name == "auto") return Impl::Auto;
  if (name == "reference") return Impl::Reference;
  if (name == "cuda") return Impl::Cuda;
  if (name == "cpu") return Impl::Cpu;
  fail(code::kInvalidArgument, "impl must be 'auto', 'reference', 'cuda' or 'cpu', got '" + name + "'", {{"field", "impl"}});
}

bool chooseCuda(Impl impl, const char* op, const at::Tensor& main, const std::string& unsupported) {
  if (impl == Impl::Reference || impl == Impl::Cpu) return false;
  const bool onCuda = main.defined() && main.is_cuda();
  if (impl == Impl::Auto) return cudaBuilt() && onCuda && unsupported.empty();
  if (!cudaBuilt()) {
    fail(code::kDevice, std::string(op) + ": the CUDA kernel is not in this build (built against a CPU libtorch)");
  }
  if (!onCuda) fail(code::kDevice, std::string(op) + ": the CUDA kernel needs CUDA tensors, got " + main.device().str());
  if (!unsupported.empty()) fail(code::kInvalidArgument, std::string(op) + ": the CUDA kernel cannot run: " + unsupported);
  return true;
}

bool chooseCpu(Impl impl, const char* op, const at::Tensor& main, const std::string& unsupported) {
  if (impl == Impl::Reference || impl == Impl::Cuda) return false;
  const bool onCpu = main.defined() && main.device().is_cpu();
  if (impl == Impl::Auto) return onCpu && unsupported.empty();
  if (!onCpu) fail(code::kDevice, std::string(op) + ": the CPU kernel needs CPU tensors, got " + (main.defined() ? main.device().str() : "none"));
  if (!unsupported.empty()) fail(code::kInvalidArgument, std::string(op) + ": the CPU kernel cannot run: " + unsupported);
  return true;
}

bool switchedOn(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr || std::string(v) != "0";
}

std::string kernelInputProblem(const at::Tensor& t, const char* name, const at::Tensor& like) {
  if (!t.defined()) return std::string(name) + " is undefined";
  const auto type = t.scalar_type();
  if (type != at::kFloat && type != at::kHalf && type != at::kBFloat16) {
    return std::string(name) + " has dtype " + std::string(c10::toString(type)) + " (float32, float16 or bfloat16 only)";
  }
  if (like.defined() && type != like.scalar_type()) {
    return std::string(name) + " has dtype " + c10::toString(type) + ", expected " + c10::toString(like.scalar_type());
  }
  if (like.defined() && t.device() != like.device()) {
    return std::string(name) + " is on " + t.device().str() + ", expected " + like.device().str();
  }
  return {};
}

}  // namespace cn::kernels
