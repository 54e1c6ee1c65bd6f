// RoPE dispatch and the autograd Function over the CUDA kernels (rope.cu).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "kernels/rope.h"

#ifdef CN_WITH_CUDA
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/launch.h"
#endif

namespace cn::kernels {
namespace {

std::string cudaProblem(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  std::string p = kernelInputProblem(x, "x", at::Tensor());
  if (p.empty()) p = kernelInputProblem(cos, "cos", x);
  if (p.empty()) p = kernelInputProblem(sin, "sin", x);
  if (!p.empty()) return p;
  if (x.dim() != 4) return "x must be [B, H, S, D]";
  if (x.size(3) % 2 != 0) return "the head dimension must be even";
  for (const at::Tensor* t : {&cos, &sin}) {
    if (t->dim() != 4) return "cos and sin must be 4-D, broadcastable to x";
    for (int64_t d = 0; d < 4; ++d) {
      if (t->size(d) != x.size(d) && t->size(d) != 1) return "cos and sin must broadcast to x's shape";
    }
    if (t->size(3) != x.size(3)) return "cos and sin must have x's last dimension";
    if (at::GradMode::is_enabled() && t->requires_grad()) return "cos/sin require grad (the kernel gives no grad for them)";
  }
  return {};
}

#ifdef CN_WITH_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The last dimension contiguous (the kernels' only layout requirement).
at::Tensor lastDimContiguous(const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); }

struct RopeFunction : public torch::autograd::Function<RopeFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    at::Tensor xs = lastDimContiguous(x);
    at::Tensor c = lastDimContiguous(cos).expand(xs.sizes()), s = lastDimContiguous(sin).expand(xs.sizes());
    at::Tensor out = at::empty_like(xs);  // keeps x's layout when it is dense (e.g. a transposed view)
    if (out.stride(-1) != 1) out = at::empty(xs.sizes(), xs.options());
    cuda::ropeForward(xs, c, s, out);
    ctx->save_for_backward({c, s});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& c = saved[0];
    const at::Tensor& s = saved[1];
    at::Tensor dout = lastDimContiguous(grads[0].to(c.scalar_type()));
    at::Tensor dx = at::empty_like(dout);
    if (dx.stride(-1) != 1) dx = at::empty(dout.sizes(), dout.options());
    cuda::ropeBackward(dout, c, s, dx);
    return {dx, at::Tensor(), at::Tensor()};
  }
};
#endif

}  // namespace

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, Impl impl) {
  if (chooseCpu(impl, "rope", x, x.defined() && x.device().is_cpu() ? ropeCpuProblem(x, cos, sin) : "")) return ropeCpu(x, cos, sin);
  const bool useCuda = impl != Impl::Reference && chooseCuda(impl, "rope", x, x.is_cuda() ? cudaProblem(x, cos, sin) : "");
#ifdef CN_WITH_CUDA
  if (useCuda) return RopeFunction::apply(x, cos, sin);
#endif
  (void)useCuda;
  return ropeReference(x, cos, sin);
}

}  // namespace cn::kernels
