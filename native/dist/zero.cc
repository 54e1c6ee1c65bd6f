#include "dist/zero.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "core/errors.h"

namespace cn {

ShardedOptimizerState::ShardedOptimizerState(std::shared_ptr<ProcessGroup> group, std::vector<NamedTensor> params)
    : group_(std::move(group)), params_(std::move(params)), owner_(params_.size(), 0) {
  // Largest first onto the least loaded rank: balanced shards, the same assignment everywhere.
  std::vector<size_t> order(params_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return params_[a].tensor.numel() > params_[b].tensor.numel(); });
  std::vector<int64_t> load(group_->size(), 0);
  for (size_t k : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner_[k] = r;
    load[r] += params_[k].tensor.numel();
  }
}

std::vector<NamedTensor> ShardedOptimizerState::owned() const {
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < params_.size(); ++k) if (owner_[k] == group_->rank()) out.push_back(params_[k]);
  return out;
}

double ShardedOptimizerState::clipGradNorm(double maxNorm) {
  at::NoGradGuard noGrad;
  double mine = 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    const at::Tensor& g = params_[k].tensor.grad();
    if (owner_[k] == group_->rank() && g.defined()) mine += g.to(at::kDouble).pow(2).sum().item<double>();
  }
  at::Tensor total = at::tensor({mine}, group_->options(at::kDouble));  // on the group's device (NCCL: CUDA)
  group_->allReduce(total, false);
  const double norm = std::sqrt(total.item<double>());
  if (maxNorm > 0 && std::isfinite(norm)) {
    const double coef = maxNorm / (norm + 1e-6);  // as clipGradNorm (train/adamw.h)
    if (coef < 1.0) {
      for (size_t k = 0; k < params_.size(); ++k) {
        if (owner_[k] == group_->rank() && params_[k].tensor.grad().defined()) params_[k].tensor.mutable_grad().mul_(coef);
      }
    }
  }
  return norm;
}

void ShardedOptimizerState::broadcastFromOwners(const std::function<at::Tensor(size_t)>& mine,
                                                const std::function<void(size_t, const at::Tensor&)>& receive) {
  at::NoGradGuard noGrad;
  for (int r = 0; r < group_->size(); ++r) {
    int64_t n = 0;
    for (size_t k = 0; k < params_.size(); ++k) if (owner_[k] == r) n += params_[k].tensor.numel();
    if (n == 0) continue;
    at::Tensor flat = at::empty({n}, group_->options());
    int64_t off = 0;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] != r) continue;
      const int64_t m = params_[k].tensor.numel();
      if (r == group_->rank()) {
        const at::Tensor t = mine(k);
        if (t.defined()) flat.narrow(0, off, m).copy_(t.reshape(-1));
        else flat.narrow(0, off, m).zero_();
      }
      off += m;
    }
    group_->broadcast(flat, r);
    off = 0;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] != r) continue;
      const int64_t m = params_[k].tensor.numel();
      if (r != group_->rank()) receive(k, flat.narrow(0, off, m).view(params_[k].tensor.sizes()));
      off += m;
    }
  }
}

void ShardedOptimizerState::gatherGradients() {
  broadcastFromOwners([&](size_t k) { return params_[k].tensor.grad(); },
                      [&](size_t k, const at::Tensor& g) { params_[k].tensor.mutable_grad() = g.to(params_[k].tensor.scalar_type()).clone(); });
}

void ShardedOptimizerState::broadcastParameters() {
  broadcastFromOwners([&](size_t k) { return params_[k].tensor; }, [&](size_t k, const at::Tensor& v) { params_[k].tensor.copy_(v); });
}

std::vector<NamedTensor> ShardedOptimizerState::gatherState(const std::vector<NamedTensor>& mine) {
  std::map<std::string, at::Tensor> have;
  for (const auto& t : mine) have[t.name] = t.tensor;
  static const char* kSuffixes[] = {".exp_avg", ".exp_avg_sq"};
  std::map<std::string, at::Tensor> all;
  for (int r = 0; r < group_->size(); ++r) {
    int64_t n = 0;
    for (size_t k = 0; k < params_.size(); ++k) if (owner_[k] == r) n += 2 * params_[k].tensor.numel();
    if (n == 0) continue;
    at::Tensor flat = at::empty({n}, group_->options());
    int64_t off = 0;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] != r) continue;
      for (const char* suffix : kSuffixes) {
        const int64_t m = params_[k].tensor.numel();
        if (r == group_->rank()) {
          auto it = have.find(params_[k].name + suffix);
          if (it == have.end()) fail(code::kNative, "ZeRO: this rank lacks the optimizer state of its parameter " + params_[k].name);
          flat.narrow(0, off, m).copy_(it->second.reshape(-1));
        }
        off += m;
      }
    }
    group_->broadcast(flat, r);
    off = 0;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] != r) continue;
      for (const char* suffix : kSuffixes) {
        const int64_t m = params_[k].tensor.numel();
        all[params_[k].name + suffix] = flat.narrow(0, off, m).view(params_[k].tensor.sizes()).clone();
        off += m;
      }
    }
  }
  // In parameter order, as one process's optimizer.state() lists them.
  std::vector<NamedTensor> out;
  for (const auto& p : params_) for (const char* suffix : kSuffixes) out.push_back({p.name + suffix, all.at(p.name + suffix)});
  return out;
}

}  // namespace cn
