// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (non-foreach):
//   p ← p − lr·wd·p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
//   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "tuners/tuner.h"

namespace cn {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
};

class AdamW {
 public:
  AdamW(std::vector<NamedTensor> params, AdamWOptions options);
  // One update with learning rate `lr` from the parameters' .grad(); skips params without grad.
  void step(double lr);
  void zeroGrad();
  int64_t steps() const { return step_; }

  // exp_avg / exp_avg_sq per parameter, for checkpoints ("<name>.exp_avg", "<name>.exp_avg_sq").
  std::vector<NamedTensor> state() const;
  void loadState(const std::vector<NamedTensor>& state, int64_t step);
  const std::vector<NamedTensor>& params() const { return params_; }

 private:
  std::vector<NamedTensor> params_;
  std::vector<at::Tensor> expAvg_, expAvgSq_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping.
double clipGradNorm(const std::vector<NamedTensor>& params, double maxNorm);

}  // namespace cn
