// AdaLoRA (Zhang et al. 2023) as PEFT 0.21 defines it: LoRA in SVD form,
//   y = W x + b + (dropout(x) (A ⊙ E)ᵀ Bᵀ) · alpha / (ranknum + 1e-5),
// with A = Q [r, in] and B = P [out, r] ~ N(0, 0.02²), E = Λ [r, 1] zeros, ranknum = init r.
// A rank allocator prunes singular triplets: after every optimizer step (gradients still
// present) it smooths the sensitivity |w·∇w| with an EMA (beta1) and its uncertainty
// |I − Ī| (beta2), scores each triplet as s(E) + mean s(A row) + mean s(B column) with
// s = Ī·Ū, and on every deltaT-th step of the budget phase keeps the `budget` best triplets of
// the whole model (budget: init_r·n → target_r·n, cubic between tinit and total_step − tfinal)
// by zeroing the others' E. The kept/pruned pattern is the rank mask (a buffer, with the EMAs),
// fixed after total_step − tfinal and re-applied every step after it. The loss gains PEFT's
// orthogonality regulariser orth_reg_weight · mean over every A and B of ‖AAᵀ−I‖_F, ‖BᵀB−I‖_F.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "models/decoder.h"
#include "tuners/dropout.h"
#include "tuners/tuner.h"

namespace cn {
namespace {

class SvdLinear : public LinearHook {
 public:
  SvdLinear(at::Tensor a, at::Tensor e, at::Tensor b, double scale, double dropout, at::Generator gen, const bool* training)
      : a_(std::move(a)), e_(std::move(e)), b_(std::move(b)), scale_(scale), dropout_(dropout), gen_(std::move(gen)), training_(training) {}

  at::Tensor forward(const at::Tensor& x, const at::Tensor& baseOut) override {
    if (merged_) return baseOut;
    at::Tensor h = tunerDropout(x, dropout_, gen_, *training_);
    at::Tensor down = kernels::linear(h, a_ * e_);
    const int64_t out = baseOut.size(-1);
    at::Tensor y = at::addmm(baseOut.reshape({-1, out}), down.reshape({-1, down.size(-1)}), b_.t(), 1.0, scale_);
    return y.view(baseOut.sizes());
  }
  bool deltaWeight(at::Tensor& out) override {
    out = at::mm(b_, a_ * e_) * scale_;
    return true;
  }

  at::Tensor a_, e_, b_;
  double scale_, dropout_;
  at::Generator gen_;
  const bool* training_;
  bool merged_ = false;
};

// One adapted projection: its hook, its rank mask and the allocator's EMAs of A, E, B.
struct Module {
  std::string name;
  Linear* linear;
  std::shared_ptr<SvdLinear> hook;
  at::Tensor mask;                 // [r] bool: triplets kept
  at::Tensor avgIpt[3], avgUnc[3];  // A, E, B: smoothed sensitivity and uncertainty
};

class AdaLora : public Tuner {
 public:
  AdaLora(const Options& o, const Decoder&) {
    const std::string s = o.scope();
    initR_ = o.integer("initR", 12);
    targetR_ = o.integer("targetR", 8);
    alpha_ = o.number("alpha", 8);
    dropout_ = o.number("dropout", 0.0);
    tinit_ = o.integer("tinit", 0);
    tfinal_ = o.integer("tfinal", 0);
    deltaT_ = o.integer("deltaT", 1);
    beta1_ = o.number("beta1", 0.85);
    beta2_ = o.number("beta2", 0.85);
    orthRegWeight_ = o.number("orthRegWeight", 0.5);
    if (!o.has("totalStep")) fail(code::kConfig, s + ".totalStep is required (AdaLoRA's budget schedule needs the number of training steps)", {{"field", s + ".totalStep"}});
    totalStep_ = o.integer("totalStep", 0);
    seed_ = o.integer("seed", 0);
    targets_ = o.strings("targetModules");
    if (targets_.empty()) targets_ = {"all-linear"};
    auto bad = [&](const char* field, const std::string& why) { fail(code::kConfig, s + "." + field + " " + why, {{"field", s + "." + field}}); };
    if (initR_ < 1) bad("initR", "must be ≥ 1");
    if (targetR_ < 0 || targetR_ > initR_) bad("targetR", "must be in [0, initR]");
    if (!(alpha_ > 0)) bad("alpha", "must be > 0");
    if (dropout_ < 0 || dropout_ >= 1) bad("dropout", "must be in [0, 1)");
    if (deltaT_ < 1) bad("deltaT", "must be ≥ 1");
    if (!(beta1_ > 0 && beta1_ < 1)) bad("beta1", "must be in (0, 1)");
    if (!(beta2_ > 0 && beta2_ < 1)) bad("beta2", "must be in (0, 1)");
    if (orthRegWeight_ < 0) bad("orthRegWeight", "must be ≥ 0");
    if (totalStep_ < 1) bad("totalStep", "must be ≥ 1");
    if (tinit_ < 0) bad("tinit", "must be ≥ 0");
    if (tfinal_ < 0) bad("tfinal", "must be ≥ 0");
    if (tinit_ >= totalStep_ - tfinal_) bad("tinit", "must be < totalStep − tfinal (no budget phase otherwise)");
    // PEFT keeps ranknum = init_r as a float32 tensor and divides by ranknum + 1e-5.
    scale_ = alpha_ / static_cast<double>(static_cast<float>(initR_) + 1e-5f);
    gen_ = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_) ^ 0xada10aaULL);
  }

  std::string peftType() const override { return "ADALORA"; }

  void attach(Decoder& model) override {
    at::NoGradGuard noGrad;
    at::Generator init = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    for (Linear* lin : model.linears()) {
      if (!matchesTarget(lin->name, targets_, model.lmHead.name)) continue;
      const int64_t in = lin->inFeatures(), out = lin->outFeatures();
      auto wopt = lin->weight.options();
      at::Tensor a = at::empty({initR_, in}, at::kFloat).normal_(0.0, 0.02, init).to(wopt.device(), wopt.dtype());
      at::Tensor e = at::zeros({initR_, 1}, wopt);
      at::Tensor b = at::empty({out, initR_}, at::kFloat).normal_(0.0, 0.02, init).to(wopt.device(), wopt.dtype());
      for (at::Tensor* t : {&a, &e, &b}) t->set_requires_grad(true);
      Module m;
      m.name = lin->name;
      m.linear = lin;
      m.hook = std::make_shared<SvdLinear>(a, e, b, scale_, dropout_, gen_, &training_);
      m.mask = at::ones({initR_}, wopt.dtype(at::kBool));
      for (int k = 0; k < 3; ++k) {
        m.avgIpt[k] = at::zeros_like(param(m, k));
        m.avgUnc[k] = at::zeros_like(param(m, k));
      }
      lin->hook = m.hook;
      modules_.push_back(std::move(m));
    }
    if (modules_.empty()) {
      std::string names;
      for (Linear* lin : model.linears()) names += (names.empty() ? "" : ", ") + lin->name.substr(lin->name.rfind('.') + 1);
      fail(code::kConfig, "AdaLoRA targetModules matched no module of this model (module names end in: " + names + ")",
           {{"field", "tuner.targetModules"}});
    }
  }

  void detach(Decoder&) override {
    for (auto& m : modules_) m.linear->hook.reset();
    modules_.clear();
  }

  // PEFT's saved names: lora_A / lora_E / lora_B are ParameterDict entries (no ".weight").
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (auto& m : modules_) {
      const std::string p = "base_model.model." + m.name;
      out.push_back({p + ".lora_A", m.hook->a_});
      out.push_back({p + ".lora_E", m.hook->e_});
      out.push_back({p + ".lora_B", m.hook->b_});
    }
    return out;
  }

  // The rank masks and the allocator's EMAs, under "adalora." so savers can tell them from
  // PEFT's keys; in trainer checkpoints so a resumed run allocates as an uninterrupted one.
  std::vector<NamedTensor> buffers() override {
    static const char* kParts[3] = {"lora_A", "lora_E", "lora_B"};
    std::vector<NamedTensor> out;
    for (auto& m : modules_) out.push_back({"adalora.mask." + m.name, m.mask});
    for (auto& m : modules_) {
      for (int k = 0; k < 3; ++k) {
        out.push_back({"adalora.exp_avg_ipt." + m.name + "." + kParts[k], m.avgIpt[k]});
        out.push_back({"adalora.exp_avg_unc." + m.name + "." + kParts[k], m.avgUnc[k]});
      }
    }
    return out;
  }

  // Accepts a full state (checkpoint), or an adapter without EMAs (they restart at zero) and
  // possibly pruned as PEFT saves it (rank_pattern): k = popcount(mask) rows of A and E and
  // columns of B, scattered back to the kept positions of init_r (pruned ones are zero).
  void loadState(const std::map<std::string, at::Tensor>& saved, const std::string& source) override {
    std::map<std::string, at::Tensor> full = saved;
    at::NoGradGuard noGrad;
    for (auto& m : modules_) {
      const std::string p = "base_model.model." + m.name;
      auto maskIt = full.find("adalora.mask." + m.name);
      if (maskIt == full.end()) full["adalora.mask." + m.name] = at::ones({initR_}, at::kBool);
      at::Tensor mask = full["adalora.mask." + m.name].to(at::kBool).view(-1);
      if (mask.numel() != initR_) continue;  // reported by the generic check below
      const int64_t kept = mask.sum().item<int64_t>();
      at::Tensor idx = mask.nonzero().view(-1);
      auto expand = [&](const std::string& key, int64_t dim) {
        auto it = full.find(key);
        if (it == full.end() || it->second.dim() != 2 || it->second.size(dim) == initR_ || it->second.size(dim) != kept) return;
        std::vector<int64_t> shape(it->second.sizes().begin(), it->second.sizes().end());
        shape[dim] = initR_;
        at::Tensor z = at::zeros(shape, it->second.options());
        z.index_copy_(dim, idx, it->second);
        it->second = z;
      };
      expand(p + ".lora_A", 0);
      expand(p + ".lora_E", 0);
      expand(p + ".lora_B", 1);
    }
    // EMAs absent (an adapter, not a checkpoint): start from zero.
    for (auto& b : buffers()) {
      if (b.name.rfind("adalora.exp_avg_", 0) == 0 && !full.count(b.name)) full[b.name] = at::zeros_like(b.tensor);
    }
    Tuner::loadState(full, source);
  }

  std::vector<at::Generator*> generators() override { return {&gen_}; }

  at::Tensor regularizer() override {
    if (orthRegWeight_ == 0 || modules_.empty()) return at::Tensor();
    at::Tensor sum;
    for (auto& m : modules_) {
      at::Tensor a = m.hook->a_, b = m.hook->b_;
      at::Tensor covA = at::mm(a, a.t()), covB = at::mm(b.t(), b);
      at::Tensor eye = at::eye(initR_, covA.options());
      at::Tensor term = at::linalg_norm(covA - eye) + at::linalg_norm(covB - eye);
      sum = sum.defined() ? sum + term : term;
    }
    return sum * (orthRegWeight_ / static_cast<double>(2 * modules_.size()));
  }

  bool afterOptimizerStep(int64_t step) override {
    at::NoGradGuard noGrad;
    const int64_t boundary = totalStep_ - tfinal_;
    if (step < boundary) {
      updateImportance();
      auto [budget, mask] = budgetAt(step);
      if (mask) maskToBudget(budget);
      return mask;
    }
    if (step == boundary) {
      maskToBudget(targetR_ * static_cast<int64_t>(modules_.size()));
      for (auto& m : modules_) {
        for (int k = 0; k < 3; ++k) {
          m.avgIpt[k].zero_();
          m.avgUnc[k].zero_();
        }
      }
    } else {
      for (auto& m : modules_) m.hook->e_.masked_fill_(m.mask.logical_not().view({-1, 1}), 0.0);
    }
    return true;
  }

  bool merge(Decoder&) override { return foldAll(+1); }
  bool unmerge(Decoder&) override { return foldAll(-1); }

 private:
  int64_t initR_, targetR_, tinit_, tfinal_, deltaT_, totalStep_, seed_;
  double alpha_, dropout_, beta1_, beta2_, orthRegWeight_, scale_;
  std::vector<std::string> targets_;
  at::Generator gen_;
  std::vector<Module> modules_;

  static at::Tensor& param(Module& m, int k) { return k == 0 ? m.hook->a_ : k == 1 ? m.hook->e_ : m.hook->b_; }

  // PEFT's RankAllocator.budget_schedule: the budget and whether this step masks.
  std::pair<int64_t, bool> budgetAt(int64_t step) const {
    const int64_t initBudget = initR_ * static_cast<int64_t>(modules_.size());
    const int64_t targetBudget = targetR_ * static_cast<int64_t>(modules_.size());
    if (step <= tinit_) return {initBudget, false};
    if (step > totalStep_ - tfinal_) return {targetBudget, true};
    const double mul = 1.0 - static_cast<double>(step - tinit_) / static_cast<double>(totalStep_ - tfinal_ - tinit_);
    const int64_t budget = static_cast<int64_t>((initBudget - targetBudget) * (mul * mul * mul) + targetBudget);
    return {budget, step % deltaT_ == 0};
  }

  void updateImportance() {
    for (auto& m : modules_) {
      for (int k = 0; k < 3; ++k) {
        at::Tensor& p = param(m, k);
        if (!p.grad().defined()) continue;
        at::Tensor ipt = (p * p.grad()).abs();
        m.avgIpt[k] = m.avgIpt[k] * beta1_ + ipt * (1 - beta1_);
        m.avgUnc[k] = m.avgUnc[k] * beta2_ + (ipt - m.avgIpt[k]).abs() * (1 - beta2_);
      }
    }
  }

  // Keeps the `budget` highest-scoring triplets over all modules; zeroes the others' E.
  void maskToBudget(int64_t budget) {
    std::vector<at::Tensor> scores, all;
    for (auto& m : modules_) {
      at::Tensor sa = (m.avgIpt[0] * m.avgUnc[0]).mean(1, /*keepdim=*/true);       // [r, 1]
      at::Tensor sb = (m.avgIpt[2] * m.avgUnc[2]).mean(0, /*keepdim=*/false).view({-1, 1});
      at::Tensor se = m.avgIpt[1] * m.avgUnc[1];                                     // [r, 1]
      at::Tensor s = se.view(-1) + at::cat({sa, sb}, 1).sum(1);
      scores.push_back(s);
      all.push_back(s);
    }
    const int64_t initBudget = initR_ * static_cast<int64_t>(modules_.size());
    const int64_t k = initBudget - budget;
    if (k < 1) return;
    const double threshold = std::get<0>(at::kthvalue(at::cat(all), k)).item<double>();
    for (size_t i = 0; i < modules_.size(); ++i) {
      at::Tensor pruned = scores[i] <= threshold;
      modules_[i].hook->e_.masked_fill_(pruned.view({-1, 1}), 0.0);
      modules_[i].mask.copy_(pruned.logical_not());
    }
  }

  bool foldAll(int sign) {
    at::NoGradGuard noGrad;
    for (auto& m : modules_) {
      if (m.hook->merged_ == (sign > 0)) continue;
      at::Tensor delta;
      m.hook->deltaWeight(delta);
      m.linear->weight.add_(delta.to(m.linear->weight.scalar_type()), sign);
      m.hook->merged_ = sign > 0;
    }
    return true;
  }
};

std::unique_ptr<Tuner> makeAdaLora(const Options& o, const Decoder& model) { return std::make_unique<AdaLora>(o, model); }

}  // namespace

CN_REGISTER_TUNER("adalora", makeAdaLora);

}  // namespace cn
