// SwiGLU on CPU float32, forward and backward in one pass each:
//   y = g σ(g) u,   dg = dy · u · σ(g) (1 + g (1 − σ(g))),   du = dy · g σ(g)
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "kernels/cpu_loops.h"
#include "kernels/swiglu.h"

namespace cn::kernels {
namespace {

constexpr int64_t kGrain = 16384;

CN_CPU_CLONES void forwardRange(const float* g, const float* u, float* y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = g[i] * cpu::sigmoid(g[i]) * u[i];
}

// Which gradients to write is a template parameter: a null test inside the loop kept GCC from
// vectorising it (2.4x slower on [1024, 704], AVX2).
template <bool WantG, bool WantU>
__attribute__((always_inline)) inline void backwardLoop(const float* __restrict dy, const float* __restrict g, const float* __restrict u, float* __restrict dg,
                         float* __restrict du, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float s = cpu::sigmoid(g[i]);
    if constexpr (WantG) dg[i] = dy[i] * u[i] * s * (1.f + g[i] * (1.f - s));
    if constexpr (WantU) du[i] = dy[i] * g[i] * s;
  }
}

CN_CPU_CLONES void backwardRange(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t begin, int64_t end) {
  if (dg != nullptr && du != nullptr) {
    backwardLoop<true, true>(dy, g, u, dg, du, begin, end);
  } else if (dg != nullptr) {
    backwardLoop<true, false>(dy, g, u, dg, du, begin, end);
  } else if (du != nullptr) {
    backwardLoop<false, true>(dy, g, u, dg, du, begin, end);
  }
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SwigluCpuFunction : public torch::autograd::Function<SwigluCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    RECORD_FUNCTION("cn::swiglu", std::vector<c10::IValue>());  // forward kernels show in CN_PROFILE tables
    at::Tensor g = gate.contiguous(), u = up.contiguous();
    at::Tensor y = at::empty(g.sizes(), g.options());
    const float *gp = g.const_data_ptr<float>(), *up_ = u.const_data_ptr<float>();
    float* yp = y.mutable_data_ptr<float>();
    at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) { forwardRange(gp, up_, yp, b, e); });
    ctx->save_for_backward({g, u});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &u = saved[1];
    at::Tensor dy = grads[0].to(at::kFloat).contiguous();
    const bool wantG = ctx->needs_input_grad(0), wantU = ctx->needs_input_grad(1);
    at::Tensor dg = wantG ? at::empty(g.sizes(), g.options()) : at::Tensor();
    at::Tensor du = wantU ? at::empty(u.sizes(), u.options()) : at::Tensor();
    const float *dyp = dy.const_data_ptr<float>(), *gp = g.const_data_ptr<float>(), *up_ = u.const_data_ptr<float>();
    float* dgp = wantG ? dg.mutable_data_ptr<float>() : nullptr;
    float* dup = wantU ? du.mutable_data_ptr<float>() : nullptr;
    at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) { backwardRange(dyp, gp, up_, dgp, dup, b, e); });
    return {dg, du};
  }
};

}  // namespace

std::string swigluCpuProblem(const at::Tensor& gate, const at::Tensor& up) {
  if (!gate.defined() || !up.defined()) return "gate and up must be defined";
  if (!gate.device().is_cpu() || !up.device().is_cpu()) return "CPU tensors only";
  if (gate.scalar_type() != at::kFloat || up.scalar_type() != at::kFloat) return "float32 only";
  if (gate.sizes() != up.sizes()) return "gate and up must have the same shape";
  return {};
}

at::Tensor swigluCpu(const at::Tensor& gate, const at::Tensor& up) { return SwigluCpuFunction::apply(gate, up); }

}  // namespace cn::kernels
