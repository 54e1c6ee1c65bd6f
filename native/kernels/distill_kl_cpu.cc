// distillKl on CPU float32. Per row, with s = student / T and t = teacher / T:
//   forward   Σ_v p_t (t − lse_t − s + lse_s),   p_t = e^(t − lse_t)   (summed as in rowKl)
//   backward  d/dstudent_v = (softmax(s)_v − p_t(v)) / T · grad
// When the student needs a gradient, the forward also writes softmax(s) − p_t from the
// exponentials it computes anyway (one per element and input), and the backward only scales it:
// recomputing them there cost as much again. Rows are independent, summed in a fixed order.
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

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
CN_CPU_CLONES float rowKl(const float* s, const float* t, int64_t n, float k, float lseS) {
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
  const float lseT = std::log(total) + m * k;
  const float kl = k * (w / total) - lseT + lseS;
  return kl > 0.f ? kl : 0.f;  // ≥ 0 in exact arithmetic; rounding may leave −1e-7 when s ≈ t
}

// The row's KL as rowKl, and softmax(s·k) − softmax(t·k) into g: the student's exponentials go
// to g and the teacher's to `scratch` (a row, in cache) in the pass that sums them, a last pass
// normalises both.
CN_CPU_CLONES float rowKlAndGrad(const float* s, const float* t, float* g, float* scratch, int64_t n, float k) {
  const float ms = cpu::maxOf(s, n), mt = cpu::maxOf(t, n);
  cpu::Lanes8 sumS = {}, sumT = {}, weighted = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const cpu::Lanes8 sv = cpu::load8(s + i), tv = cpu::load8(t + i);
    cpu::Lanes8 es = (sv - ms) * k, et = (tv - mt) * k;
    cpu::exp8(es, es);
    cpu::exp8(et, et);
    sumS += es;
    sumT += et;
    weighted += et * (tv - sv);
    std::memcpy(g + i, &es, sizeof es);
    std::memcpy(scratch + i, &et, sizeof et);
  }
  float totalS = cpu::sumLanes(sumS), totalT = cpu::sumLanes(sumT), w = cpu::sumLanes(weighted);
  for (; i < n; ++i) {
    const float es = cpu::expf((s[i] - ms) * k), et = cpu::expf((t[i] - mt) * k);
    totalS += es;
    totalT += et;
    w += et * (t[i] - s[i]);
    g[i] = es;
    scratch[i] = et;
  }
  const float invS = 1.f / totalS, invT = 1.f / totalT;
  for (int64_t j = 0; j < n; ++j) g[j] = g[j] * invS - scratch[j] * invT;
  const float lseS = std::log(totalS) + ms * k, lseT = std::log(totalT) + mt * k;
  const float kl = k * (w * invT) - lseT + lseS;
  return kl > 0.f ? kl : 0.f;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct DistillKlCpuFunction : public torch::autograd::Function<DistillKlCpuFunction> {
  // `withGrad`: whether autograd will call backward (the student requires grad, grad mode on);
  // Function::apply runs forward with grad mode off, so the caller decides.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& student, const at::Tensor& teacher, double temperature, bool withGrad) {
    RECORD_FUNCTION("cn::distillKl", std::vector<c10::IValue>());  // forward kernels show in CN_PROFILE tables
    at::Tensor s = student.contiguous(), t = teacher.detach().contiguous();
    const int64_t N = s.size(0), V = s.size(1);
    const float k = static_cast<float>(1.0 / temperature);
    at::Tensor rows = at::empty({N}, s.options());
    at::Tensor g = withGrad ? at::empty({N, V}, s.options()) : at::Tensor();
    const float *sp = s.const_data_ptr<float>(), *tp = t.const_data_ptr<float>();
    float* rp = rows.mutable_data_ptr<float>();
    float* gp = withGrad ? g.mutable_data_ptr<float>() : nullptr;
    at::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      std::vector<float> scratch(withGrad ? V : 0);
      for (int64_t r = b; r < e; ++r) {
        const float* sr = sp + r * V;
        const float* tr = tp + r * V;
        rp[r] = withGrad ? rowKlAndGrad(sr, tr, gp + r * V, scratch.data(), V, k) : rowKl(sr, tr, V, k, rowLse(sr, V, k));
      }
    });
    if (withGrad) ctx->save_for_backward({g});
    ctx->saved_data["k"] = static_cast<double>(k);
    return rows.sum();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("cn::distillKl backward", std::vector<c10::IValue>());
    at::Tensor g = ctx->get_saved_variables()[0];
    const double k = ctx->saved_data["k"].toDouble();
    return {g.mul_(grads[0] * k), at::Tensor(), at::Tensor(), at::Tensor()};  // in place, as the cross-entropy's
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
  const bool withGrad = at::GradMode::is_enabled() && student.requires_grad();
  return DistillKlCpuFunction::apply(student, teacher, temperature, withGrad);
}

}  // namespace cn::kernels
