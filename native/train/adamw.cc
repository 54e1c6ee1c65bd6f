#include "train/adamw.h"

#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_fused_adamw.h>

#include <cmath>

#include "core/errors.h"

namespace cn {

AdamW::AdamW(std::vector<NamedTensor> params, AdamWOptions options) : params_(std::move(params)), options_(options) {
  at::NoGradGuard noGrad;
  for (auto& p : params_) {
    expAvg_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve).to(at::kFloat));
    expAvgSq_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve).to(at::kFloat));
    master_.push_back(p.tensor.scalar_type() == at::kFloat ? at::Tensor() : p.tensor.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true));
  }
}

namespace {

// ATen's fused AdamW (the kernel behind torch.optim.AdamW(fused=True)) takes every tensor in one
// multi-tensor pass, on CPU and on CUDA: the same update instead of ~8 small ops (and, on a GPU,
// ~8 kernel launches) per parameter. It needs float32 tensors, contiguous, on one device.
bool fusable(const std::vector<at::Tensor>& ps, const std::vector<at::Tensor>& gs) {
  for (size_t i = 0; i < ps.size(); ++i) {
    const at::Tensor &p = ps[i], &g = gs[i];
    if (p.device() != ps[0].device() || !(p.device().is_cpu() || p.is_cuda())) return false;
    if (p.scalar_type() != at::kFloat || !p.is_contiguous() || g.scalar_type() != at::kFloat || !g.is_contiguous()) return false;
  }
  return true;
}

}  // namespace

void AdamW::step(double lr) {
  at::NoGradGuard noGrad;
  ++step_;
  // the float32 tensors the update is made on: the parameter itself or its master copy
  std::vector<at::Tensor> ps, gs, ms, vs;
  std::vector<size_t> updated;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& g = params_[i].tensor.grad();
    if (!g.defined()) continue;
    ps.push_back(master_[i].defined() ? master_[i] : params_[i].tensor);
    gs.push_back(g.to(at::kFloat).contiguous());
    ms.push_back(expAvg_[i]);
    vs.push_back(expAvgSq_[i]);
    updated.push_back(i);
  }
  if (ps.empty()) return;
  if (fusable(ps, gs)) {
    // the kernel reads the step count per tensor and never writes it: one tensor serves all
    const at::Tensor count = at::full({}, static_cast<double>(step_), ps[0].options());
    const std::vector<at::Tensor> steps(ps.size(), count);
    at::_fused_adamw_(ps, gs, ms, vs, {}, steps, lr, options_.beta1, options_.beta2, options_.weightDecay, options_.eps,
                      /*amsgrad=*/false, /*maximize=*/false);
  } else {
    const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
    const double bc2Sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(step_)));
    const double stepSize = lr / bc1;
    for (size_t k = 0; k < ps.size(); ++k) {
      at::Tensor pf = ps[k].is_contiguous() ? ps[k] : ps[k].contiguous();
      if (options_.weightDecay != 0) pf.mul_(1.0 - lr * options_.weightDecay);
      ms[k].lerp_(gs[k], 1.0 - options_.beta1);
      vs[k].mul_(options_.beta2).addcmul_(gs[k], gs[k], 1.0 - options_.beta2);
      at::Tensor denom = (vs[k].sqrt() / bc2Sqrt).add_(options_.eps);
      pf.addcdiv_(ms[k], denom, -stepSize);
      if (pf.data_ptr() != ps[k].data_ptr()) ps[k].copy_(pf);
    }
  }
  for (size_t k = 0; k < updated.size(); ++k) {
    const size_t i = updated[k];
    if (master_[i].defined()) params_[i].tensor.copy_(master_[i]);  // rounded once, into the parameter's dtype
  }
}

void AdamW::refreshMasters() {
  at::NoGradGuard noGrad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (master_[i].defined()) master_[i].copy_(params_[i].tensor);
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
    if (master_[i].defined()) out.push_back({params_[i].name + ".master", master_[i]});
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
    if (master_[i].defined()) {
      // a checkpoint without masters (or one made before they existed): start from the parameter
      auto it = byName.find(params_[i].name + ".master");
      const bool usable = it != byName.end() && it->second.sizes() == master_[i].sizes();
      master_[i].copy_(usable ? it->second : params_[i].tensor);
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
