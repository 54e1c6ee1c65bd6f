// SwiGLU dispatch and the autograd Function over the CUDA kernels (swiglu.cu).
#include <ATen/ATen.h>

#include "kernels/swiglu.h"

#ifdef CN_WITH_CUDA
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/launch.h"
#endif

namespace cn::kernels {
namespace {

std::string cudaProblem(const at::Tensor& gate, const at::Tensor& up) {
  std::string p = kernelInputProblem(gate, "gate", at::Tensor());
  if (p.empty()) p = kernelInputProblem(up, "up", gate);
  if (!p.empty()) return p;
  if (gate.sizes() != up.sizes()) return "gate and up must have the same shape";
  return {};
}

#ifdef CN_WITH_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SwigluFunction : public torch::autograd::Function<SwigluFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    at::Tensor g = gate.contiguous(), u = up.contiguous();
    at::Tensor out = at::empty(g.sizes(), g.options());
    cuda::swigluForward(g, u, out);
    ctx->save_for_backward({g, u});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& g = saved[0];
    const at::Tensor& u = saved[1];
    at::Tensor dout = grads[0].to(g.scalar_type()).contiguous();
    at::Tensor dgate = at::empty(g.sizes(), g.options()), dup = at::empty(u.sizes(), u.options());
    cuda::swigluBackward(dout, g, u, dgate, dup);
    return {ctx->needs_input_grad(0) ? dgate : at::Tensor(), ctx->needs_input_grad(1) ? dup : at::Tensor()};
  }
};
#endif

}  // namespace

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up, Impl impl) {
  if (chooseCpu(impl, "swiglu", gate, gate.defined() && gate.device().is_cpu() ? swigluCpuProblem(gate, up) : "")) return swigluCpu(gate, up);
  const bool useCuda = impl != Impl::Reference && chooseCuda(impl, "swiglu", gate, gate.is_cuda() ? cudaProblem(gate, up) : "");
#ifdef CN_WITH_CUDA
  if (useCuda) return SwigluFunction::apply(gate, up);
#endif
  (void)useCuda;
  return swigluReference(gate, up);
}

}  // namespace cn::kernels
