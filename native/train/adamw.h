// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (non-foreach):
//   p ← p − lr·wd·p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
//   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
// The moments are float32, and so is the master copy of a bfloat16/float16 parameter: the update
// is made there and rounded into the parameter afterwards (updated in bf16 itself, a step of
// lr = 1e-4 on a weight above ~0.03 would round away). One fused multi-tensor kernel
// (ATen's _fused_adamw_) on CPU and CUDA when every parameter sits on one device.
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
  // After something else edited the parameters in place (AdaLoRA's pruning): the masters take
  // the parameters' values again, so the next step does not undo the edit.
  void refreshMasters();
  int64_t steps() const { return step_; }

  // exp_avg / exp_avg_sq per parameter, for checkpoints ("<name>.exp_avg", "<name>.exp_avg_sq"),
  // and "<name>.master" for a parameter below float32 (optional on load: else the parameter's value).
  std::vector<NamedTensor> state() const;
  void loadState(const std::vector<NamedTensor>& state, int64_t step);
  const std::vector<NamedTensor>& params() const { return params_; }

 private:
  std::vector<NamedTensor> params_;
  std::vector<at::Tensor> expAvg_, expAvgSq_;
  std::vector<at::Tensor> master_;  // float32 copy of a bf16/fp16 parameter; undefined for float32 ones
  AdamWOptions options_;
  int64_t step_ = 0;
};

// Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping.
double clipGradNorm(const std::vector<NamedTensor>& params, double maxNorm);

}  // namespace cn
