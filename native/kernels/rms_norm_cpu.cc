// RMSNorm on CPU float32: one pass per row forward (saving 1/rms), one pass backward.
//   y  = w ⊙ x̂,  x̂ = x · r,  r = (mean(x²) + eps)^-½
//   dx = r · (w⊙dy − x̂ · mean(w⊙dy⊙x̂)),   dw = Σ_rows dy ⊙ x̂
// dw is summed per fixed block of rows, then over blocks in order: deterministic.
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "kernels/cpu_loops.h"
#include "kernels/rms_norm.h"

namespace cn::kernels {
namespace {

constexpr int64_t kRowsPerBlock = 64;

CN_CPU_CLONES void forwardRows(const float* x, const float* w, float* y, float* rstd, int64_t begin, int64_t end, int64_t C, float eps) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    const float ss = cpu::dot(xr, xr, C);
    const float inv = 1.f / std::sqrt(ss / static_cast<float>(C) + eps);
    rstd[r] = inv;
    for (int64_t c = 0; c < C; ++c) yr[c] = w[c] * (xr[c] * inv);
  }
}

CN_CPU_CLONES void backwardRows(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dwPart,
                                int64_t begin, int64_t end, int64_t C) {
  for (int64_t r = begin; r < end; ++r) {
    const float* dyr = dy + r * C;
    const float* xr = x + r * C;
    const float inv = rstd[r];
    const float dot = cpu::dot3(w, dyr, xr, C) * inv;  // Σ (w⊙dy) ⊙ x̂
    const float mean = dot / static_cast<float>(C);
    if (dx != nullptr) {
      float* dxr = dx + r * C;
      for (int64_t c = 0; c < C; ++c) dxr[c] = inv * (w[c] * dyr[c] - xr[c] * inv * mean);
    }
    if (dwPart != nullptr) {
      for (int64_t c = 0; c < C; ++c) dwPart[c] += dyr[c] * (xr[c] * inv);
    }
  }
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct RmsNormCpuFunction : public torch::autograd::Function<RmsNormCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    RECORD_FUNCTION("cn::rmsNorm", std::vector<c10::IValue>());  // forward kernels show in CN_PROFILE tables
    at::Tensor xc = x.contiguous(), wc = weight.contiguous();
    const int64_t C = xc.size(-1), N = xc.numel() / C;
    at::Tensor y = at::empty(xc.sizes(), xc.options());
    at::Tensor rstd = at::empty({N}, xc.options());
    const float *xp = xc.const_data_ptr<float>(), *wp = wc.const_data_ptr<float>();
    float *yp = y.mutable_data_ptr<float>(), *rp = rstd.mutable_data_ptr<float>();
    at::parallel_for(0, N, kRowsPerBlock, [&](int64_t b, int64_t e) { forwardRows(xp, wp, yp, rp, b, e, C, static_cast<float>(eps)); });
    ctx->save_for_backward({xc, wc, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
    const int64_t C = x.size(-1), N = x.numel() / C;
    at::Tensor dy = grads[0].to(at::kFloat).contiguous();
    const bool wantDx = ctx->needs_input_grad(0), wantDw = ctx->needs_input_grad(1);
    at::Tensor dx = wantDx ? at::empty(x.sizes(), x.options()) : at::Tensor();
    const int64_t blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
    at::Tensor dwPart = wantDw ? at::zeros({blocks, C}, x.options()) : at::Tensor();
    const float *dyp = dy.const_data_ptr<float>(), *xp = x.const_data_ptr<float>(), *wp = w.const_data_ptr<float>(),
                *rp = rstd.const_data_ptr<float>();
    float* dxp = wantDx ? dx.mutable_data_ptr<float>() : nullptr;
    float* dwp = wantDw ? dwPart.mutable_data_ptr<float>() : nullptr;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        backwardRows(dyp, xp, wp, rp, dxp, dwp ? dwp + b * C : nullptr, b * kRowsPerBlock, std::min(N, (b + 1) * kRowsPerBlock), C);
      }
    });
    return {dx, wantDw ? dwPart.sum(0) : at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::string rmsNormCpuProblem(const at::Tensor& x, const at::Tensor& weight) {
  if (!x.defined() || !weight.defined()) return "x and weight must be defined";
  if (!x.device().is_cpu() || !weight.device().is_cpu()) return "CPU tensors only";
  if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat) return "float32 only";
  if (x.dim() < 1 || x.size(-1) == 0 || x.numel() == 0) return "x must have a non-empty last dimension";
  if (weight.dim() != 1 || weight.size(0) != x.size(-1)) return "weight must be [C] with C = x.size(-1)";
  return {};
}

at::Tensor rmsNormCpu(const at::Tensor& x, const at::Tensor& weight, double eps) { return RmsNormCpuFunction::apply(x, weight, eps); }

}  // namespace cn::kernels
