// crossEntropySum on CPU float32. Per row r with target t (rows with t = −100 count 0):
//   forward   lse_r − x[r, t],   lse_r = log Σ_v e^x[r, v]
//   backward  d/dx[r, v] = (e^(x[r, v] − lse_r) − [v = t]) · grad
// The row log-sum-exps are saved; row losses are summed in row order (deterministic).
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "core/errors.h"
#include "kernels/cpu_loops.h"
#include "kernels/cross_entropy.h"

namespace cn::kernels {
namespace {

constexpr int64_t kIgnore = -100;

CN_CPU_CLONES float rowLse(const float* x, int64_t n) {
  const float m = cpu::maxOf(x, n);
  return std::log(cpu::sumExp(x, n, 1.f, m)) + m;
}

CN_CPU_CLONES void rowGrad(const float* x, float* dx, int64_t n, float lse, float scale) {
  for (int64_t i = 0; i < n; ++i) dx[i] = cpu::expf(x[i] - lse) * scale;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CrossEntropyCpuFunction : public torch::autograd::Function<CrossEntropyCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets) {
    RECORD_FUNCTION("cn::crossEntropy", std::vector<c10::IValue>());
    at::Tensor x = logits.contiguous(), t = targets.to(at::kLong).contiguous();
    const int64_t N = x.size(0), V = x.size(1);
    const int64_t* tp = t.const_data_ptr<int64_t>();
    for (int64_t r = 0; r < N; ++r) {
      if (tp[r] != kIgnore && (tp[r] < 0 || tp[r] >= V)) {
        fail(code::kInvalidArgument, "cross-entropy target " + std::to_string(tp[r]) + " at row " + std::to_string(r) + " is outside the vocabulary [0, " + std::to_string(V) + ")",
             {{"field", "labels"}, {"index", std::to_string(r)}});
      }
    }
    at::Tensor lse = at::empty({N}, x.options());
    at::Tensor rows = at::zeros({N}, x.options());
    const float* xp = x.const_data_ptr<float>();
    float *lp = lse.mutable_data_ptr<float>(), *rp = rows.mutable_data_ptr<float>();
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        if (tp[r] == kIgnore) continue;
        const float* xr = xp + r * V;
        lp[r] = rowLse(xr, V);
        rp[r] = lp[r] - xr[tp[r]];
      }
    });
    ctx->save_for_backward({x, t, lse});
    return rows.sum();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("cn::crossEntropy backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &t = saved[1], &lse = saved[2];
    const int64_t N = x.size(0), V = x.size(1);
    const float scale = grads[0].item<float>();
    at::Tensor dx = at::empty(x.sizes(), x.options());
    const float *xp = x.const_data_ptr<float>(), *lp = lse.const_data_ptr<float>();
    const int64_t* tp = t.const_data_ptr<int64_t>();
    float* dp = dx.mutable_data_ptr<float>();
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* dr = dp + r * V;
        if (tp[r] == kIgnore) {
          std::fill(dr, dr + V, 0.f);
          continue;
        }
        rowGrad(xp + r * V, dr, V, lp[r], scale);
        dr[tp[r]] -= scale;
      }
    });
    return {dx, at::Tensor()};
  }
};

}  // namespace

std::string crossEntropyCpuProblem(const at::Tensor& logits, const at::Tensor& targets) {
  if (!logits.defined() || !targets.defined()) return "logits and targets must be defined";
  if (!logits.device().is_cpu() || !targets.device().is_cpu()) return "CPU tensors only";
  if (logits.scalar_type() != at::kFloat) return "float32 logits only";
  if (logits.dim() != 2 || logits.size(1) == 0) return "logits must be [N, V] with V > 0";
  if (targets.dim() != 1 || targets.size(0) != logits.size(0)) return "targets must be [N] with N = logits.size(0)";
  if (targets.is_floating_point() || targets.scalar_type() == at::kBool) return "targets must be integer token ids";
  return {};
}

at::Tensor crossEntropySumCpu(const at::Tensor& logits, const at::Tensor& targets) { return CrossEntropyCpuFunction::apply(logits, targets); }

}  // namespace cn::kernels
