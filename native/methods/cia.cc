// CIA, the Continual Instruction Assistant's adaptive EMA (ICML 2025), on the trainable tensors.
// From the second task on, an EMA copy θ̄ of each trainable tensor (starting at its value when the
// task begins) follows every optimizer step with its own weight
//   β = c · (1 + ‖g‖₁) / (‖θ − θ̄‖₁ · ‖g − g_prev‖₁), used when 0 < β < 1, else β₀,
//   θ̄ ← (1 − β) θ̄ + β θ,
// g being the step's gradient as the optimizer used it and g_prev the previous step's. At the end
// of the task θ is replaced by θ̄, so θ̄ is what is saved and evaluated (the reference swaps it in
// after writing its checkpoint). Options: c (default 0.01), beta0 (0.001).
// The paper's instruction-similarity parameter allocation is not implemented (docs/methods.md).
#include <cmath>

#include "core/errors.h"
#include "methods/math.h"
#include "methods/method.h"

namespace cn {

double ciaBeta(const at::Tensor& theta, const at::Tensor& ema, const at::Tensor& g, const at::Tensor& gPrev, double c, double beta0) {
  if (!gPrev.defined()) return beta0;
  const double gNorm = g.abs().sum().item<double>();
  const double drift = (theta - ema).abs().sum().item<double>();
  const double change = (g - gPrev).abs().sum().item<double>();
  const double denominator = drift * change;
  if (!(denominator > 0) || !std::isfinite(denominator)) return beta0;
  const double beta = c * (1.0 + gNorm) / denominator;
  return std::isfinite(beta) && beta > 0 && beta < 1 ? beta : beta0;
}

namespace {

class Cia : public Method {
 public:
  explicit Cia(const Options& o) : c_(o.number("c", 0.01)), beta0_(o.number("beta0", 0.001)) {
    if (!(c_ > 0)) fail(code::kConfig, "cia.c must be > 0", {{"field", "method.c"}});
    if (!(beta0_ > 0 && beta0_ <= 1)) fail(code::kConfig, "cia.beta0 must be in (0, 1]", {{"field", "method.beta0"}});
  }
  std::string name() const override { return "cia"; }

  void beforeTask(MethodContext& ctx, int64_t task) override {
    ema_.clear();
    gPrev_.clear();
    if (task == 0) return;
    at::NoGradGuard noGrad;
    for (const auto& p : ctx.params) ema_.push_back(p.tensor.detach().to(at::kFloat).clone());
  }

  void afterOptimizerStep(MethodContext& ctx, int64_t step) override {
    if (ema_.empty()) return;
    at::NoGradGuard noGrad;
    const bool first = gPrev_.empty();
    for (size_t i = 0; i < ctx.params.size(); ++i) {
      const at::Tensor& p = ctx.params[i].tensor;
      at::Tensor theta = p.detach().to(at::kFloat);
      at::Tensor g = p.grad().defined() ? p.grad().detach().to(at::kFloat) : at::zeros_like(theta);
      const double beta = ciaBeta(theta, ema_[i], g, first ? at::Tensor() : gPrev_[i], c_, beta0_);
      ++(beta == beta0_ ? fallbackUpdates_ : adaptiveUpdates_);
      ema_[i].mul_(1.0 - beta).add_(theta, beta);
      if (first) gPrev_.push_back(g.clone());
      else gPrev_[i].copy_(g);
    }
  }

  void afterTask(MethodContext& ctx, int64_t task, const std::vector<Example>& data) override {
    if (ema_.empty()) return;
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < ctx.params.size(); ++i) ctx.params[i].tensor.detach().copy_(ema_[i]);
    ema_.clear();
    gPrev_.clear();
  }

  std::vector<NamedTensor> state() override {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < ema_.size(); ++i) out.push_back({"ema." + std::to_string(i), ema_[i]});
    for (size_t i = 0; i < gPrev_.size(); ++i) out.push_back({"gradPrev." + std::to_string(i), gPrev_[i]});
    // how often β was the adaptive weight or the fallback β₀ (per tensor and step, over the stream)
    out.push_back({"updates", at::tensor({adaptiveUpdates_, fallbackUpdates_}, at::kLong)});
    return out;
  }
  void loadState(const std::map<std::string, at::Tensor>& s) override {
    ema_.clear();
    gPrev_.clear();
    for (size_t i = 0; s.count("ema." + std::to_string(i)); ++i) ema_.push_back(s.at("ema." + std::to_string(i)).to(at::kFloat).clone());
    for (size_t i = 0; s.count("gradPrev." + std::to_string(i)); ++i) gPrev_.push_back(s.at("gradPrev." + std::to_string(i)).to(at::kFloat).clone());
    if (s.count("updates")) {
      at::Tensor u = s.at("updates").to(at::kLong).contiguous();
      adaptiveUpdates_ = u[0].item<int64_t>();
      fallbackUpdates_ = u[1].item<int64_t>();
    }
  }

 private:
  double c_, beta0_;
  std::vector<at::Tensor> ema_, gPrev_;
  int64_t adaptiveUpdates_ = 0, fallbackUpdates_ = 0;
};

std::unique_ptr<Method> makeCia(const Options& o) { return std::make_unique<Cia>(o); }

}  // namespace
CN_REGISTER_METHOD("cia", makeCia);
}  // namespace cn
