// distillKl on CPU float32. Per row, with s = student / T and t = teacher / T:
//   forward   Σ_v p_t (t − lse_t − s + lse_s),   p_t = e^(t − lse_t)
//   backward  d/dstudent_v = (softmax(s)_v − p_t(v)) / T · grad
// The row's log-sum-exps are saved; rows are independent, summed in a fixed order.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "kernels/cpu_loops.h"
#include "kernels/distill_kl.h"

namespace cn::kernels {
namespace {

CN_CPU_CLONES float rowMax(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// log Σ e^(x·k − m·k) + m·k, with m the row max (k = 1/T)
CN_CPU_CLONES float rowLse(const float* x, int64_t n, float k, float m) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += cpu::expf((x[i] - m) * k);
  return std::log(s) + m * k;
}

CN_CPU_CLONES float rowKl(const float* s, const float* t, int64_t n, float k, float lseS, float lseT) {
  float acc = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    const float lt = t[i] * k - lseT;
    acc += cpu::expf(lt) * (lt - (s[i] * k - lseS));
  }
  return acc;
}

CN_CPU_CLONES void rowGrad(const float* s, const float* t, float* ds, int64_t n, float k, float lseS, float lseT, float scale) {
  for (int64_t i = 0; i < n; ++i) ds[i] = (cpu::expf(s[i] * k - lseS) - cpu::expf(t[i] * k - lseT)) * scale;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct DistillKlCpuFunction : public torch::autograd::Function<DistillKlCpuFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& student, const at::Tensor& teacher, double temperature) {
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
        const float lseS = rowLse(sr, V, k, rowMax(sr, V)), lseT = rowLse(tr, V, k, rowMax(tr, V));
        lp[2 * r] = lseS;
        lp[2 * r + 1] = lseT;
        rp[r] = rowKl(sr, tr, V, k, lseS, lseT);
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
