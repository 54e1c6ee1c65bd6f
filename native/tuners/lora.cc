// LoRA (Hu et al. 2021) as PEFT defines it: y = W x + b + (B A dropout(x)) · s, with
// A: [r, in] Kaiming-uniform (a = √5, i.e. U(±1/√in)), B: [out, r] zeros, s = α / r, or α / √r
// with rsLoRA. Options: r, alpha, dropout, targetModules (names or "all-linear"), rslora, seed.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/errors.h"
#include "models/decoder.h"
#include "tuners/lora_common.h"
#include "tuners/tuner.h"

namespace cn {
namespace {

class LoraLinear : public LinearHook {
 public:
  LoraLinear(at::Tensor a, at::Tensor b, double scaling, double dropout, at::Generator gen, const bool* training)
      : a_(std::move(a)), b_(std::move(b)), scaling_(scaling), dropout_(dropout), gen_(std::move(gen)), training_(training) {}

  // The base and low-rank products in one autograd node (kernels/linear.h): y = x Wᵀ + b +
  // s (h Aᵀ) Bᵀ, never the full [out, in] delta.
  at::Tensor apply(const Linear& base, const at::Tensor& x) override {
    if (merged_) return base.baseForward(x);
    if (x.is_cuda() && dropout_ > 0 && *training_) {
      // on a GPU the mask is a hash of one seed drawn here (kernels/hash_dropout.h): nothing x-sized
      // is drawn on the host or saved for the backward
      return kernels::loraLinearHashDropout(x, base.weight, base.bias, a_, b_, scaling_, dropout_, drawDropoutSeed(gen_));
    }
    at::Tensor h = tunerDropout(x, dropout_, gen_, *training_);
    return kernels::loraLinear(x, h, base.weight, base.bias, a_, b_, scaling_);
  }
  bool deltaWeight(at::Tensor& out) override {
    out = at::mm(b_, a_) * scaling_;
    return true;
  }

  at::Tensor a_, b_;
  double scaling_, dropout_;
  at::Generator gen_;
  const bool* training_;
  bool merged_ = false;
};

class Lora : public Tuner {
 public:
  Lora(const Options& o, const Decoder& model) {
    r_ = o.integer("r", 8);
    alpha_ = o.number("alpha", 8);
    dropout_ = o.number("dropout", 0.0);
    rslora_ = o.flag("rslora", false);
    targets_ = o.strings("targetModules");
    if (targets_.empty()) targets_ = {"all-linear"};
    seed_ = o.integer("seed", 0);
    if (r_ < 1) fail(code::kConfig, o.scope() + ".r must be ≥ 1", {{"field", o.scope() + ".r"}});
    if (dropout_ < 0 || dropout_ >= 1) fail(code::kConfig, o.scope() + ".dropout must be in [0, 1)", {{"field", o.scope() + ".dropout"}});
    scaling_ = rslora_ ? alpha_ / std::sqrt(static_cast<double>(r_)) : alpha_ / static_cast<double>(r_);
    gen_ = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_) ^ 0x5eed10aaULL);
  }

  std::string peftType() const override { return "LORA"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    at::Generator init = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    for (Linear* lin : model.linears()) {
      if (!matchesTarget(lin->name, targets_, model.lmHead.name)) continue;
      const int64_t in = lin->inFeatures(), out = lin->outFeatures();
      at::Tensor a = lowrank::kaimingUniformA(r_, in, init, lin->weight);
      at::Tensor b = at::zeros({out, r_}, lin->weight.options());
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      auto hook = std::make_shared<LoraLinear>(a, b, scaling_, dropout_, gen_, &training_);
      lin->hook = hook;
      hooks_.push_back({lin->name, hook});
      targeted_.push_back(lin);
    }
    if (hooks_.empty()) lowrank::failNoTargets(model, "LoRA");
  }

  void detach(Decoder& model) override {
    for (Linear* lin : targeted_) lin->hook.reset();
    targeted_.clear();
  }

  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (auto& [name, hook] : hooks_) {
      out.push_back({"base_model.model." + name + ".lora_A.weight", hook->a_});
      out.push_back({"base_model.model." + name + ".lora_B.weight", hook->b_});
    }
    return out;
  }

  std::vector<at::Generator*> generators() override { return {&gen_}; }

  bool merge(Decoder& model) override {
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < hooks_.size(); ++i) {
      auto& hook = hooks_[i].second;
      if (hook->merged_) continue;
      at::Tensor delta;
      hook->deltaWeight(delta);
      targeted_[i]->weight.add_(delta.to(targeted_[i]->weight.scalar_type()));
      hook->merged_ = true;
    }
    return true;
  }

  bool unmerge(Decoder& model) override {
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < hooks_.size(); ++i) {
      auto& hook = hooks_[i].second;
      if (!hook->merged_) continue;
      at::Tensor delta;
      hook->deltaWeight(delta);
      targeted_[i]->weight.sub_(delta.to(targeted_[i]->weight.scalar_type()));
      hook->merged_ = false;
    }
    return true;
  }

 private:
  int64_t r_;
  double alpha_, dropout_, scaling_;
  bool rslora_;
  int64_t seed_;
  std::vector<std::string> targets_;
  at::Generator gen_;
  std::vector<std::pair<std::string, std::shared_ptr<LoraLinear>>> hooks_;
  std::vector<Linear*> targeted_;
};

std::unique_ptr<Tuner> makeLora(const Options& o, const Decoder& model) { return std::make_unique<Lora>(o, model); }

}  // namespace

CN_REGISTER_TUNER("lora", makeLora);

}  // namespace cn
