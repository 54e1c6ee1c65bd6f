// distillKl on CPU float32. Per row, with s = student / T and t = teacher / T:
//   forward   Σ_v p_t (t − lse_t − s + lse_s),   p_t = e^(t − lse_t)   (summed as in rowKl)
//   backward  d/dstudent_v = (softmax(s)_v − p_t(v)) / T · grad
// The row's log-sum-exps are saved; rows are independent, summed in a fixed order.
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "kernels/cpu_loops.h"
#include "kernels/distill_kl.h"

namespace cn::kernels {
namespace {

// log Σ e^(x·k) over the row, through its max
CN_CPU_CLONES float rowLse(const float* x, int64_t n, float k) {
  const float m = cpu::maxOf(x, n);
  return std::log(cpu::sumExp(x, n, k, m)) + m * k;
}

// The teacher row's log-sum-exp and, from the same exponentials, the row's KL through
//   Σ p_t (lt − ls) = k Σ p_t (t − s) − lseT + lseS        (Σ p_t = 1)
// one exp per element where the direct form needs a second pass with another.
CN_CPU_CLONES float rowKl(const float* s, const float* t, int64_t n, float k, float lseS, float* lseT) {
  const float m = cpu::maxOf(t, n);
  cpu::Lanes8 sum = {}, weighted = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const cpu::Lanes8 tv = cpu::load8(t + i);
    cpu::Lanes8 e = (tv - m) * k;
    cpu::exp8(e, e);
    sum += e;
    weighted += e * (tv - cpu::load8(s + i));
  }
  float total = cpu::sumLanes(sum), w = cpu::sumLanes(weighted);
  for (; i < n; ++i) {
    const float e = cpu::expf((t[i] - m) * k);
    total += e;
    w += e * (t[i] - s[i]);
  }
  *lseT = std::log(total) + m * k;
  const float kl = k * (w / total) - *lseT + lseS;
  return kl > 0.f ? kl : 0.f;  // ≥ 0 in exact arithmetic; rounding may leave −1e-7 when s ≈ t
}

CN_CPU_CLONES void rowGrad(const float* s, const float* t, float* ds, int64_t n, float k, float lseS, float lseT, float scale) {
  for (int64_t i = 0; i < n; ++i) ds[i] = (cpu::expf(s[i] * k - lseS) - cpu::expf(t[i] * k - lseT)) * scale;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct DistillKlCpuFunction : public torch::autograd::Function<DistillKlCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& student, const at::Tensor& teacher, double temperature) {
    RECORD_FUNCTION("cn::distillKl", std::vector<c10::IValue>());  // forward kernels show in CN_PROFILE tables
    at::Tensor s = student.contiguous(), t = teacher.detach().contiguous();
    const int64_t N = s.size(0), V = s.size(1);
    const float k = static_cast<float>(1.0 / temperature);
    at::Tensor lse = at::empty({N, 2}, s.options());
    at::Tensor rows = at::empty({N}, s.options());
    const float *sp = s.const_data_ptr<float>(), *tp = t.const_data_ptr<float>();
    float *lp = lse.mutable_data_ptr<float>(), *rp = rows.mutable_data_ptr<float>();
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* sr = sp + r * V;
        const float* tr = tp + r * V;
        const float lseS = rowLse(sr, V, k);
        lp[2 * r] = lseS;
        rp[r] = rowKl(sr, tr, V, k, lseS, &lp[2 * r + 1]);
      }
    });
    ctx->save_for_backward({s, t, lse});
    ctx->saved_data["k"] = static_cast<double>(k);
    return rows.sum();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &s = saved[0], &t = saved[1], &lse = saved[2];
    const int64_t N = s.size(0), V = s.size(1);
    const float k = static_cast<float>(ctx->saved_data["k"].toDouble());
    const float scale = grads[0].item<float>() * k;
    at::Tensor ds = at::empty(s.sizes(), s.options());
    const float *sp = s.const_data_ptr<float>(), *tp = t.const_data_ptr<float>(), *lp = lse.const_data_ptr<float>();
    float* dp = ds.mutable_data_ptr<float>();
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) rowGrad(sp + r * V, tp + r * V, dp + r * V, V, k, lp[2 * r], lp[2 * r + 1], scale);
    });
    return {ds, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::string distillKlCpuProblem(const at::Tensor& student, const at::Tensor& teacher) {
  if (!student.defined() || !teacher.defined()) return "student and teacher must be defined";
  if (!student.device().is_cpu() || !teacher.device().is_cpu()) return "CPU tensors only";
  if (student.scalar_type() != at::kFloat || teacher.scalar_type() != at::kFloat) return "float32 only";
  if (student.dim() != 2 || !student.sizes().equals(teacher.sizes()) || student.size(1) == 0) return "student and teacher must be [N, V] of one shape";
  return {};
}

at::Tensor distillKlCpu(const at::Tensor& student, const at::Tensor& teacher, double temperature) {
  return DistillKlCpuFunction::apply(student, teacher, temperature);
}

}  // namespace cn::kernels
