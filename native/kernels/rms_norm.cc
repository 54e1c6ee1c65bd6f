// RMSNorm dispatch and the autograd Function over the CUDA kernels (rms_norm.cu).
#include <ATen/ATen.h>

#include "kernels/rms_norm.h"

#ifdef CN_WITH_CUDA
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/launch.h"
#endif

namespace cn::kernels {
namespace {

constexpr int64_t kMaxCudaCols = 16384;

std::string cudaProblem(const at::Tensor& x, const at::Tensor& weight) {
  std::string p = kernelInputProblem(x, "x", at::Tensor());
  if (p.empty()) p = kernelInputProblem(weight, "weight", x);
  if (!p.empty()) return p;
  if (x.dim() < 1 || x.size(-1) == 0) return "x must have a non-empty last dimension";
  if (weight.dim() != 1 || weight.size(0) != x.size(-1)) return "weight must be [C] with C = x.size(-1)";
  if (x.size(-1) > kMaxCudaCols) return "last dimension above " + std::to_string(kMaxCudaCols);
  return {};
}

#ifdef CN_WITH_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    const int64_t cols = x.size(-1), rows = x.numel() / cols;
    at::Tensor xc = x.contiguous(), wc = weight.contiguous();
    at::Tensor out = at::empty(x.sizes(), xc.options());
    at::Tensor rstd = at::empty({rows}, xc.options().dtype(at::kFloat));
    cuda::rmsNormForward(xc.view({rows, cols}), wc, eps, out.view({rows, cols}), rstd);
    ctx->save_for_backward({xc, wc, rstd});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& rstd = saved[2];
    const int64_t cols = x.size(-1), rows = x.numel() / cols;
    at::Tensor dout = grads[0].to(x.scalar_type()).contiguous();
    at::Tensor dx = at::empty(x.sizes(), x.options());
    at::Tensor dwPartial;
    const bool wantDw = ctx->needs_input_grad(1);
    if (wantDw) dwPartial = at::empty({cuda::rmsNormBackwardBlocks(rows), cols}, x.options().dtype(at::kFloat));
    cuda::rmsNormBackward(dout.view({rows, cols}), x.view({rows, cols}), weight, rstd, dx.view({rows, cols}), dwPartial);
    at::Tensor dw = wantDw ? dwPartial.sum(0).to(weight.scalar_type()) : at::Tensor();
    return {dx, dw, at::Tensor()};
  }
};
#endif

}  // namespace

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps, Impl impl) {
  if (chooseCpu(impl, "rmsNorm", x, x.defined() && x.device().is_cpu() ? rmsNormCpuProblem(x, weight) : "")) return rmsNormCpu(x, weight, eps);
  const bool useCuda = impl != Impl::Reference && chooseCuda(impl, "rmsNorm", x, x.is_cuda() ? cudaProblem(x, weight) : "");
#ifdef CN_WITH_CUDA
  if (useCuda) return RmsNormFunction::apply(x, weight, eps);
#endif
  (void)useCuda;
  return rmsNormReference(x, weight, eps);
}

}  // namespace cn::kernels
