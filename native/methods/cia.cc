// CIA, the Continual Instruction Assistant's adaptive EMA (ICML 2025), on the trainable tensors.
// From the second task on, an EMA copy θ̄ of each trainable tensor (starting at its value when the
// task begins) follows every optimizer step with its own weight
//   β = c · (1 + ‖g‖₁) / (‖θ − θ̄‖₁ · ‖g − g_prev‖₁), used when 0 < β < 1, else β₀,
//   θ̄ ← (1 − β) θ̄ + β θ,
// g being the step's gradient as the optimizer used it and g_prev the previous step's. At the end
// of the task θ is replaced by θ̄, so θ̄ is what is saved and evaluated (the reference swaps it in
// after writing its checkpoint). Options: c (default 0.01), beta0 (0.001).
// The paper's instruction-similarity parameter allocation is not implemented (docs/methods.md).
// Data parallel under ZeRO-2 a tensor's gradient lives on its owner only: the owner computes
// ‖g‖₁ and ‖g − g_prev‖₁ of its tensors and keeps their g_prev, the per-tensor norms are summed over
// the ranks (one all-reduce of 2 numbers per tensor), and every rank updates its EMA copy with the
// same β (θ and θ̄ are the same on every rank). Checkpoints gather g_prev from the owners.
#include <cmath>

#include "core/errors.h"
#include "dist/process_group.h"
#include "methods/math.h"
#include "methods/method.h"

namespace cn {
namespace {
// β from its three norms (docs above); beta0 when undefined or outside (0, 1).
double betaOf(double gNorm, double drift, double change, double c, double beta0) {
  const double denominator = drift * change;
  if (!(denominator > 0) || !std::isfinite(denominator)) return beta0;
  const double beta = c * (1.0 + gNorm) / denominator;
  return std::isfinite(beta) && beta > 0 && beta < 1 ? beta : beta0;
}
}  // namespace

double ciaBeta(const at::Tensor& theta, const at::Tensor& ema, const at::Tensor& g, const at::Tensor& gPrev, double c, double beta0) {
  if (!gPrev.defined()) return beta0;
  return betaOf(g.abs().sum().item<double>(), (theta - ema).abs().sum().item<double>(), (g - gPrev).abs().sum().item<double>(), c, beta0);
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
    havePrev_ = false;
    if (task == 0) return;
    at::NoGradGuard noGrad;
    for (const auto& p : ctx.params) ema_.push_back(p.tensor.detach().to(at::kFloat).clone());
  }

  void afterOptimizerStep(MethodContext& ctx, int64_t step) override {
    if (ema_.empty()) return;
    at::NoGradGuard noGrad;
    const size_t n = ctx.params.size();
    gPrev_.resize(n);
    // Per tensor: ‖g‖₁ and ‖g − g_prev‖₁, from the tensor's gradient (under ZeRO-2 on its owner,
    // then summed over the ranks: the other ranks contribute 0).
    std::vector<double> partial(2 * n, 0.0);
    std::vector<at::Tensor> grads(n);
    for (size_t i = 0; i < n; ++i) {
      if (ctx.shards && !ctx.shards->owns(i)) continue;
      const at::Tensor& p = ctx.params[i].tensor;
      grads[i] = p.grad().defined() ? p.grad().detach().to(at::kFloat) : at::zeros_like(p.detach(), at::kFloat);
      partial[2 * i] = grads[i].abs().sum().item<double>();
      if (havePrev_) partial[2 * i + 1] = (grads[i] - gPrev_[i]).abs().sum().item<double>();
    }
    at::Tensor summed = at::tensor(partial, at::kDouble);
    sumOverShards(ctx, summed);
    const double* norms = summed.data_ptr<double>();
    for (size_t i = 0; i < n; ++i) {
      at::Tensor theta = ctx.params[i].tensor.detach().to(at::kFloat);
      const double beta = havePrev_ ? betaOf(norms[2 * i], (theta - ema_[i]).abs().sum().item<double>(), norms[2 * i + 1], c_, beta0_) : beta0_;
      ++(beta == beta0_ ? fallbackUpdates_ : adaptiveUpdates_);
      ema_[i].mul_(1.0 - beta).add_(theta, beta);
      if (!grads[i].defined()) gPrev_[i] = at::Tensor();  // ZeRO-2: the owner keeps it
      else if (gPrev_[i].defined()) gPrev_[i].copy_(grads[i]);
      else gPrev_[i] = grads[i].clone();
    }
    havePrev_ = true;
  }

  void afterTask(MethodContext& ctx, int64_t task, const std::vector<Example>& data) override {
    if (ema_.empty()) return;
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < ctx.params.size(); ++i) ctx.params[i].tensor.detach().copy_(ema_[i]);
    ema_.clear();
    gPrev_.clear();
    havePrev_ = false;
  }

  std::vector<NamedTensor> state() override { return stateWith(gPrev_); }

  std::vector<NamedTensor> checkpointState(MethodContext& ctx) override {
    if (!ctx.shards || !havePrev_ || !ctx.group) return state();
    // ZeRO-2: each owner broadcasts its tensors' g_prev (rank 0 writes them all).
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> all(gPrev_.size());
    for (int r = 0; r < ctx.group->size(); ++r) {
      int64_t count = 0;
      for (size_t i = 0; i < gPrev_.size(); ++i) if (ctx.shards->owner[i] == r) count += ctx.params[i].tensor.numel();
      if (count == 0) continue;
      at::Tensor flat = at::zeros({count}, ctx.params.front().tensor.options().dtype(at::kFloat));  // the group's device
      int64_t off = 0;
      for (size_t i = 0; i < gPrev_.size(); ++i) {
        if (ctx.shards->owner[i] != r) continue;
        const int64_t m = ctx.params[i].tensor.numel();
        if (r == ctx.shards->rank) flat.narrow(0, off, m).copy_(gPrev_[i].reshape(-1));
        off += m;
      }
      ctx.group->broadcast(flat, r);
      off = 0;
      for (size_t i = 0; i < gPrev_.size(); ++i) {
        if (ctx.shards->owner[i] != r) continue;
        const int64_t m = ctx.params[i].tensor.numel();
        all[i] = flat.narrow(0, off, m).view(ctx.params[i].tensor.sizes()).clone();
        off += m;
      }
    }
    return stateWith(all);
  }

  std::vector<NamedTensor> stateWith(const std::vector<at::Tensor>& gPrev) {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < ema_.size(); ++i) out.push_back({"ema." + std::to_string(i), ema_[i]});
    if (havePrev_) for (size_t i = 0; i < gPrev.size(); ++i) if (gPrev[i].defined()) out.push_back({"gradPrev." + std::to_string(i), gPrev[i]});
    // how often β was the adaptive weight or the fallback β₀ (per tensor and step, over the stream)
    out.push_back({"updates", at::tensor({adaptiveUpdates_, fallbackUpdates_}, at::kLong)});
    return out;
  }
  void loadState(const std::map<std::string, at::Tensor>& s) override {
    ema_.clear();
    gPrev_.clear();
    for (size_t i = 0; s.count("ema." + std::to_string(i)); ++i) ema_.push_back(s.at("ema." + std::to_string(i)).to(at::kFloat).clone());
    for (size_t i = 0; s.count("gradPrev." + std::to_string(i)); ++i) gPrev_.push_back(s.at("gradPrev." + std::to_string(i)).to(at::kFloat).clone());
    havePrev_ = !gPrev_.empty();
    if (s.count("updates")) {
      at::Tensor u = s.at("updates").to(at::kLong).contiguous();
      adaptiveUpdates_ = u[0].item<int64_t>();
      fallbackUpdates_ = u[1].item<int64_t>();
    }
  }

 private:
  double c_, beta0_;
  std::vector<at::Tensor> ema_;
  std::vector<at::Tensor> gPrev_;  // per tensor; under ZeRO-2 defined on the tensor's owner only
  bool havePrev_ = false;          // a step of this task has been taken (β is adaptive from the next)
  int64_t adaptiveUpdates_ = 0, fallbackUpdates_ = 0;
};

std::unique_ptr<Method> makeCia(const Options& o) { return std::make_unique<Cia>(o); }

}  // namespace
CN_REGISTER_METHOD("cia", makeCia);
}  // namespace cn
