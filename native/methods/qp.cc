#include "methods/qp.h"

#include <cmath>
#include <limits>

namespace cn {
namespace {

double objective(const at::Tensor& P, const at::Tensor& q, const at::Tensor& v) {
  return (0.5 * v.dot(P.mv(v)) + q.dot(v)).item<double>();
}

at::Tensor coordinateDescent(const at::Tensor& P, const at::Tensor& q, double lower) {
  const int64_t k = q.size(0);
  at::Tensor v = at::full({k}, lower, q.options());
  auto Pa = P.accessor<double, 2>();
  auto qa = q.accessor<double, 1>();
  auto va = v.accessor<double, 1>();
  for (int sweep = 0; sweep < 100000; ++sweep) {
    double change = 0;
    for (int64_t i = 0; i < k; ++i) {
      if (Pa[i][i] <= 0) continue;
      double grad = qa[i];
      for (int64_t j = 0; j < k; ++j) grad += Pa[i][j] * va[j];
      const double next = std::max(lower, va[i] - grad / Pa[i][i]);
      change = std::max(change, std::abs(next - va[i]));
      va[i] = next;
    }
    if (change < 1e-12) break;
  }
  return v;
}

}  // namespace

at::Tensor solveBoundedQp(const at::Tensor& P0, const at::Tensor& q0, double lower) {
  at::Tensor P = P0.to(at::kDouble).contiguous(), q = q0.to(at::kDouble).contiguous();
  const int64_t k = q.size(0);
  if (k > 12) return coordinateDescent(P, q, lower);
  // Every subset S of free variables: v_S solves P_SS v_S = −(q_S + P_S,B · lower), the rest sit at
  // the bound. The optimum is the feasible KKT point (v_S ≥ lower, gradient ≥ 0 on the bound) of
  // least objective.
  at::Tensor best;
  double bestObj = std::numeric_limits<double>::infinity();
  for (int64_t mask = 0; mask < (int64_t(1) << k); ++mask) {
    std::vector<int64_t> freeIdx, boundIdx;
    for (int64_t i = 0; i < k; ++i) ((mask >> i) & 1 ? freeIdx : boundIdx).push_back(i);
    at::Tensor v = at::full({k}, lower, q.options());
    if (!freeIdx.empty()) {
      at::Tensor fi = at::tensor(freeIdx, at::kLong), bi = at::tensor(boundIdx, at::kLong);
      at::Tensor Pff = P.index_select(0, fi).index_select(1, fi);
      at::Tensor rhs = -q.index_select(0, fi);
      if (!boundIdx.empty()) rhs = rhs - P.index_select(0, fi).index_select(1, bi).sum(1) * lower;
      at::Tensor sol = std::get<0>(at::linalg_lstsq(Pff, rhs.unsqueeze(1))).squeeze(1);
      if ((sol < lower - 1e-9).any().item<bool>()) continue;
      v.index_copy_(0, fi, sol);
    }
    at::Tensor grad = P.mv(v) + q;
    bool kkt = true;
    for (int64_t i : boundIdx) if (grad[i].item<double>() < -1e-9) kkt = false;
    if (!kkt) continue;
    const double obj = objective(P, q, v);
    if (obj < bestObj) {
      bestObj = obj;
      best = v;
    }
  }
  return best.defined() ? best : coordinateDescent(P, q, lower);
}

}  // namespace cn
