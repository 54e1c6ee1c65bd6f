#include "train/adamw.h"

#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_fused_adamw.h>

#include <cmath>

#include "core/errors.h"

namespace cn {

AdamW::AdamW(std::vector<NamedTensor> params, AdamWOptions options) : params_(std::move(params)), options_(options) {
  for (auto& p : params_) {
    expAvg_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve).to(at::kFloat));
    expAvgSq_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve).to(at::kFloat));
  }
}

namespace {

// ATen's fused CPU AdamW (the kernel behind torch.optim.AdamW(fused=True)) takes every tensor
// in one vectorised pass: the same update, instead of ~8 small ops per parameter.
bool fusable(const std::vector<NamedTensor>& params) {
  for (const auto& p : params) {
    if (!p.tensor.device().is_cpu() || p.tensor.scalar_type() != at::kFloat || !p.tensor.is_contiguous()) return false;
    const at::Tensor& g = p.tensor.grad();
    if (g.defined() && (g.scalar_type() != at::kFloat || !g.is_contiguous())) return false;
  }
  return true;
}

}  // namespace

void AdamW::step(double lr) {
  at::NoGradGuard noGrad;
  ++step_;
  if (fusable(params_)) {
    std::vector<at::Tensor> ps, gs, ms, vs, steps;
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& g = params_[i].tensor.grad();
      if (!g.defined()) continue;
      ps.push_back(params_[i].tensor);
      gs.push_back(g);
      ms.push_back(expAvg_[i]);
      vs.push_back(expAvgSq_[i]);
      steps.push_back(at::full({}, static_cast<double>(step_), at::kFloat));
    }
    if (ps.empty()) return;
    at::_fused_adamw_(ps, gs, ms, vs, {}, steps, lr, options_.beta1, options_.beta2, options_.weightDecay, options_.eps,
                      /*amsgrad=*/false, /*maximize=*/false);
    return;
  }
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2Sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(step_)));
  const double stepSize = lr / bc1;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].tensor;
    const at::Tensor& g0 = p.grad();
    if (!g0.defined()) continue;
    // Master math in fp32 (bf16/fp16 params on CUDA keep fp32 moments).
    at::Tensor g = g0.to(at::kFloat);
    at::Tensor pf = p.scalar_type() == at::kFloat ? p : p.to(at::kFloat);
    if (options_.weightDecay != 0) pf.mul_(1.0 - lr * options_.weightDecay);
    expAvg_[i].lerp_(g, 1.0 - options_.beta1);
    expAvgSq_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    at::Tensor denom = (expAvgSq_[i].sqrt() / bc2Sqrt).add_(options_.eps);
    pf.addcdiv_(expAvg_[i], denom, -stepSize);
    if (pf.data_ptr() != p.data_ptr()) p.copy_(pf);
  }
}

void AdamW::zeroGrad() {
  for (auto& p : params_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = at::Tensor();
  }
}

std::vector<NamedTensor> AdamW::state() const {
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.push_back({params_[i].name + ".exp_avg", expAvg_[i]});
    out.push_back({params_[i].name + ".exp_avg_sq", expAvgSq_[i]});
  }
  return out;
}

void AdamW::loadState(const std::vector<NamedTensor>& state, int64_t step) {
  std::map<std::string, at::Tensor> byName;
  for (const auto& s : state) byName[s.name] = s.tensor;
  at::NoGradGuard noGrad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [suffix, target] : {std::pair<const char*, at::Tensor*>{".exp_avg", &expAvg_[i]}, {".exp_avg_sq", &expAvgSq_[i]}}) {
      auto it = byName.find(params_[i].name + suffix);
      if (it == byName.end()) fail(code::kModelLoad, "optimizer state lacks '" + params_[i].name + suffix + "'", {{"tensor", params_[i].name + suffix}});
      if (it->second.sizes() != target->sizes()) fail(code::kModelLoad, "optimizer state '" + params_[i].name + suffix + "' has the wrong shape", {{"tensor", params_[i].name + suffix}});
      target->copy_(it->second);
    }
  }
  step_ = step;
}

double clipGradNorm(const std::vector<NamedTensor>& params, double maxNorm) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (p.tensor.grad().defined()) grads.push_back(p.tensor.grad());
  }
  if (grads.empty()) return 0.0;
  // One multi-tensor op each for the norms and the scaling (not two small ops per tensor).
  std::vector<at::Tensor> norms = at::_foreach_norm(grads, 2);
  for (auto& n : norms) n = n.to(at::kFloat);
  const double total = at::stack(norms).norm(2).item<double>();
  if (maxNorm > 0 && std::isfinite(total)) {
    const double coef = maxNorm / (total + 1e-6);
    if (coef < 1.0) at::_foreach_mul_(grads, coef);
  }
  return total;
}

}  // namespace cn
