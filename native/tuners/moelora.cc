// MoELoRA: a mixture of E low-rank experts per target projection, mixed per token by a router.
//   y = W x + b + s · Σ_e g_e(x) · B_e A_e dropout(x),   g(x) = softmax(R x) over the E experts
// The experts share the LoRA rank r (each has rank r/E). A_e are stacked into one A [r, in] (rows
// e·r/E .. (e+1)·r/E - 1 belong to expert e) and B_e into one B [out, r] (the same columns), so a
// forward is one down-projection GEMM, a per-token gate multiply on [N, r], one up-projection
// GEMM fused into the base output, plus the thin router GEMM [N, in] × [in, E].
// Init: A Kaiming-uniform as LoRA's, B zeros (the model starts equal to the base), router R
// zeros (every token starts with equal weights 1/E; the experts still differ because their A
// differ, so the router gets gradients as soon as B moves). s = alpha / r, or alpha / √r (rsLoRA).
// The router makes the update token-dependent, so it cannot be folded into W: merge() is false.
// Options: experts (4), r (8), alpha (32), dropout (0.05), targetModules, rslora, seed.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/errors.h"
#include "models/decoder.h"
#include "tuners/lora_common.h"
#include "tuners/tuner.h"

namespace cn {
namespace {

class MoeLoraLinear : public LinearHook {
 public:
  MoeLoraLinear(at::Tensor a, at::Tensor b, at::Tensor router, double scaling, double dropout, at::Generator gen, const bool* training)
      : a_(std::move(a)), b_(std::move(b)), router_(std::move(router)), scaling_(scaling), dropout_(dropout), gen_(std::move(gen)),
        training_(training) {}

  at::Tensor forward(const at::Tensor& x, const at::Tensor& baseOut) override {
    const int64_t experts = router_.size(0), rank = a_.size(0), out = baseOut.size(-1);
    at::Tensor h = tunerDropout(x, dropout_, gen_, *training_);
    at::Tensor down = kernels::linear(h, a_).reshape({-1, experts, rank / experts});  // [N, E, r/E]
    // The router sees the undropped input; softmax in fp32 so bf16 gates still sum to 1.
    at::Tensor gates = at::softmax(kernels::linear(x, router_), -1, at::kFloat).to(down.scalar_type());
    at::Tensor mixed = (down * gates.reshape({-1, experts, 1})).reshape({-1, rank});
    at::Tensor y = at::addmm(baseOut.reshape({-1, out}), mixed, b_.t(), 1.0, scaling_);
    return y.view(baseOut.sizes());
  }

  at::Tensor a_, b_, router_;
  double scaling_, dropout_;
  at::Generator gen_;
  const bool* training_;
};

class MoeLora : public Tuner {
 public:
  MoeLora(const Options& o, const Decoder& model) {
    experts_ = o.integer("experts", 4);
    r_ = o.integer("r", 8);
    alpha_ = o.number("alpha", 32);
    dropout_ = o.number("dropout", 0.05);
    rslora_ = o.flag("rslora", false);
    targets_ = o.strings("targetModules");
    if (targets_.empty()) targets_ = {"all-linear"};
    seed_ = o.integer("seed", 0);
    const std::string s = o.scope();
    if (experts_ < 1) fail(code::kConfig, s + ".experts must be ≥ 1", {{"field", s + ".experts"}});
    if (r_ < 1) fail(code::kConfig, s + ".r must be ≥ 1", {{"field", s + ".r"}});
    if (r_ % experts_ != 0) {
      fail(code::kConfig, s + ".r (" + std::to_string(r_) + ") must be divisible by " + s + ".experts (" + std::to_string(experts_) +
                              "): each expert has rank r / experts", {{"field", s + ".r"}});
    }
    if (dropout_ < 0 || dropout_ >= 1) fail(code::kConfig, s + ".dropout must be in [0, 1)", {{"field", s + ".dropout"}});
    scaling_ = rslora_ ? alpha_ / std::sqrt(static_cast<double>(r_)) : alpha_ / static_cast<double>(r_);
    // Same seeds as LoRA's: with one expert, MoELoRA draws LoRA's A and LoRA's dropout masks.
    gen_ = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_) ^ 0x5eed10aaULL);
  }

  std::string peftType() const override { return "MOELORA"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    at::Generator init = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    for (Linear* lin : model.linears()) {
      if (!matchesTarget(lin->name, targets_, model.lmHead.name)) continue;
      const int64_t in = lin->inFeatures(), out = lin->outFeatures();
      at::Tensor a = lowrank::kaimingUniformA(r_, in, init, lin->weight);
      at::Tensor b = at::zeros({out, r_}, lin->weight.options());
      at::Tensor router = at::zeros({experts_, in}, lin->weight.options());
      for (at::Tensor* t : {&a, &b, &router}) t->set_requires_grad(true);
      auto hook = std::make_shared<MoeLoraLinear>(a, b, router, scaling_, dropout_, gen_, &training_);
      lin->hook = hook;
      hooks_.push_back({lin->name, hook});
      targeted_.push_back(lin);
    }
    if (hooks_.empty()) lowrank::failNoTargets(model, "MoELoRA");
  }

  void detach(Decoder& model) override {
    for (Linear* lin : targeted_) lin->hook.reset();
    targeted_.clear();
  }

  // Our own key names (PEFT has no MoELoRA); docs/formats.md describes the layout.
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (auto& [name, hook] : hooks_) {
      const std::string p = "base_model.model." + name + ".moelora_";
      out.push_back({p + "A.weight", hook->a_});
      out.push_back({p + "B.weight", hook->b_});
      out.push_back({p + "router.weight", hook->router_});
    }
    return out;
  }

  std::vector<at::Generator*> generators() override { return {&gen_}; }

  // The update depends on each token through the router: there is no single ΔW to fold.
  bool merge(Decoder&) override { return false; }
  bool unmerge(Decoder&) override { return false; }

 private:
  int64_t experts_, r_;
  double alpha_, dropout_, scaling_;
  bool rslora_;
  int64_t seed_;
  std::vector<std::string> targets_;
  at::Generator gen_;
  std::vector<std::pair<std::string, std::shared_ptr<MoeLoraLinear>>> hooks_;
  std::vector<Linear*> targeted_;
};

std::unique_ptr<Tuner> makeMoeLora(const Options& o, const Decoder& model) { return std::make_unique<MoeLora>(o, model); }

}  // namespace

CN_REGISTER_TUNER("moelora", makeMoeLora);

}  // namespace cn
