// The formulas of the CL methods as plain functions on tensors, defined in each method's file and
// used there; declared together so the math tests (bindings/method_math.cc) check exactly the
// code that trains.
#pragma once
#include <ATen/ATen.h>

namespace cn {

// GEM: z = argmin ½‖z − g‖² s.t. ⟨z, G_k⟩ ≥ 0 for every row k of G [k, p], through the dual with
// v ≥ margin (margin 0: the exact projection). Returns g itself when no constraint is violated.
at::Tensor gemProject(const at::Tensor& g, const at::Tensor& G, double margin);
// A-GEM: g − (⟨g, ref⟩ / ⟨ref, ref⟩) ref when ⟨g, ref⟩ < 0, else g.
at::Tensor agemProject(const at::Tensor& g, const at::Tensor& ref);
// LwF: Σ over rows of KL(softmax(teacher/T) ‖ softmax(student/T)), student [N, V] with grad.
at::Tensor lwfDistillation(const at::Tensor& student, const at::Tensor& teacher, double temperature);
// CIA: the adaptive EMA weight of one parameter tensor, β = c (1 + ‖g‖₁) / (‖θ − θ̄‖₁ ‖g − g_prev‖₁),
// or beta0 when it is not in (0, 1) or cannot be computed (no g_prev yet, a zero or non-finite
// denominator). gPrev may be undefined.
double ciaBeta(const at::Tensor& theta, const at::Tensor& ema, const at::Tensor& g, const at::Tensor& gPrev, double c, double beta0);

}  // namespace cn
