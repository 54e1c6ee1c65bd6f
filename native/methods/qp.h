// The small quadratic program of GEM's dual: minimise ½ vᵀ P v + qᵀ v subject to v ≥ lower,
// for a k×k positive semi-definite P (k = number of past tasks). Solved exactly by enumerating
// active sets for k ≤ 12 (≤ 4096 tiny linear systems), by projected coordinate descent above.
#pragma once
#include <ATen/ATen.h>

namespace cn {
at::Tensor solveBoundedQp(const at::Tensor& P, const at::Tensor& q, double lower);
}  // namespace cn
