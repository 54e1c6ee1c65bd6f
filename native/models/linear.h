// Linear: a frozen (or fully trained) base projection y = x Wᵀ + b, plus an optional hook a tuner
// installs (LoRA, MoELoRA, AdaLoRA...) that adds its own term. The module name is the HF one
// ("model.layers.0.self_attn.q_proj"), so tuner keys match PEFT's.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "core/errors.h"
#include "kernels/linear.h"

namespace cn {

struct Linear;

class LinearHook {
 public:
  virtual ~LinearHook() = default;
  // A hook overrides one of these two.
  // The layer output given its input and the base output (called by the default apply()).
  virtual at::Tensor forward(const at::Tensor& /*x*/, const at::Tensor& /*baseOut*/) {
    fail(code::kNative, "a LinearHook must override forward() or apply()");
  }
  // The whole layer: by default the base projection, then forward(). A hook that fuses its term
  // into the base product (LoRA) overrides this instead.
  virtual at::Tensor apply(const Linear& base, const at::Tensor& x);
  // Folds the hook into the base weight (delta W) when it can; false if it cannot.
  virtual bool deltaWeight(at::Tensor& out) { return false; }
};

struct Linear {
  std::string name;
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  std::shared_ptr<LinearHook> hook;

  int64_t inFeatures() const { return weight.size(1); }
  int64_t outFeatures() const { return weight.size(0); }

  at::Tensor forward(const at::Tensor& x) const { return hook ? hook->apply(*this, x) : baseForward(x); }
  // x Wᵀ + b, without the hook.
  at::Tensor baseForward(const at::Tensor& x) const { return kernels::linear(x, weight, bias); }
};

inline at::Tensor LinearHook::apply(const Linear& base, const at::Tensor& x) { return forward(x, base.baseForward(x)); }

}  // namespace cn
