// crossEntropySum on CPU float32. Per row r with target t (rows with t = −100 count 0):
//   forward   lse_r − x[r, t],   lse_r = log Σ_v e^x[r, v]
//   backward  d/dx[r, v] = (e^(x[r, v] − lse_r) − [v = t]) · grad
// When the logits need a gradient, the forward writes softmax − one-hot from the exponentials its
// log-sum-exp computes, and the backward only scales it (recomputing them cost a second exp per
// element). Row losses are summed in row order (deterministic).
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "kernels/cpu_loops.h"
#include "kernels/cross_entropy.h"

namespace cn::kernels {
namespace {

constexpr int64_t kIgnore = -100;

CN_CPU_CLONES float rowLse(const float* x, int64_t n) {
  const float m = cpu::maxOf(x, n);
  return std::log(cpu::sumExp(x, n, 1.f, m)) + m;
}

// The row's log-sum-exp, with softmax(x) written to p: the exponentials go to p in the pass that
// sums them, a second (in-cache) pass normalises.
CN_CPU_CLONES float rowLseAndSoftmax(const float* x, float* p, int64_t n) {
  const float m = cpu::maxOf(x, n);
  cpu::Lanes8 sum = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    cpu::Lanes8 e = cpu::load8(x + i) - m;
    cpu::exp8(e, e);
    sum += e;
    std::memcpy(p + i, &e, sizeof e);
  }
  float total = cpu::sumLanes(sum);
  for (; i < n; ++i) {
    p[i] = cpu::expf(x[i] - m);
    total += p[i];
  }
  const float inv = 1.f / total;
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
  return std::log(total) + m;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CrossEntropyCpuFunction : public torch::autograd::Function<CrossEntropyCpuFunction> {
  // `withGrad`: whether autograd will call backward (Function::apply runs forward with grad mode
  // off, so the caller decides).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets, bool withGrad) {
    RECORD_FUNCTION("cn::crossEntropy", std::vector<c10::IValue>());
    at::Tensor x = logits.contiguous(), t = targets.to(at::kLong).contiguous();
    const int64_t N = x.size(0), V = x.size(1);
    checkCrossEntropyTargets(t, V);
    const int64_t* tp = t.const_data_ptr<int64_t>();
    at::Tensor rows = at::zeros({N}, x.options());
    at::Tensor g = withGrad ? at::empty({N, V}, x.options()) : at::Tensor();  // softmax − one-hot
    const float* xp = x.const_data_ptr<float>();
    float* rp = rows.mutable_data_ptr<float>();
    float* gp = withGrad ? g.mutable_data_ptr<float>() : nullptr;
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* xr = xp + r * V;
        if (tp[r] == kIgnore) {
          if (withGrad) std::fill(gp + r * V, gp + (r + 1) * V, 0.f);
          continue;
        }
        if (!withGrad) {
          rp[r] = rowLse(xr, V) - xr[tp[r]];
          continue;
        }
        float* gr = gp + r * V;
        rp[r] = rowLseAndSoftmax(xr, gr, V) - xr[tp[r]];
        gr[tp[r]] -= 1.f;
      }
    });
    if (withGrad) ctx->save_for_backward({g});
    return rows.sum();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("cn::crossEntropy backward", std::vector<c10::IValue>());
    // scaled in place: the saved tensor is this node's alone and backward runs once (a second
    // run, with retain_graph, fails the saved tensor's version check instead of double-scaling)
    at::Tensor g = ctx->get_saved_variables()[0];
    return {g.mul_(grads[0]), at::Tensor(), at::Tensor()};
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

at::Tensor crossEntropySumCpu(const at::Tensor& logits, const at::Tensor& targets) {
  const bool withGrad = at::GradMode::is_enabled() && logits.requires_grad();
  return CrossEntropyCpuFunction::apply(logits, targets, withGrad);
}

}  // namespace cn::kernels
