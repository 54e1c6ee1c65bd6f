#include "dist/gradient_sync.h"

#include "core/dtype.h"
#include "core/errors.h"

namespace cn {

GradientSync::GradientSync(std::shared_ptr<ProcessGroup> group, std::vector<NamedTensor> params, int64_t bucketBytes, std::vector<int> owners)
    : group_(std::move(group)), params_(std::move(params)), owners_(std::move(owners)) {
  flatOptions_ = at::TensorOptions().dtype(at::kFloat).device(params_.empty() ? group_->device() : params_[0].tensor.device());
  for (const auto& p : params_) {
    if (p.tensor.device() != group_->device()) {
      fail(code::kConfig, "data-parallel training over a " + group_->backend() + " group needs the trainable tensors on " + deviceName(group_->device()) +
                              " (" + p.name + " is on " + deviceName(p.tensor.device()) + ")", {{"field", "backend"}});
    }
  }
  where_.resize(params_.size());
  // Reverse order: the last layers' gradients are the first to be ready.
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k].tensor;
    if (buckets_.empty() || (bytes > 0 && bytes + p.numel() * 4 > bucketBytes)) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    where_[k] = {buckets_.size() - 1, b.params.size()};
    b.params.push_back(k);
    bytes += p.numel() * 4;
  }
  const int world = group_->size();
  for (Bucket& b : buckets_) {
    // Offsets within the bucket: in order, or under ZeRO-2 grouped by owner rank (each rank's part
    // contiguous, as reduce_scatter takes it).
    b.offsets.assign(b.params.size(), 0);
    b.segment.assign(world + 1, 0);
    int64_t n = 0;
    for (int r = 0; r < (owners_.empty() ? 1 : world); ++r) {
      b.segment[r] = n;
      for (size_t s = 0; s < b.params.size(); ++s) {
        if (!owners_.empty() && owners_[b.params[s]] != r) continue;
        b.offsets[s] = n;
        n += params_[b.params[s]].tensor.numel();
      }
    }
    for (int r = owners_.empty() ? 1 : world; r <= world; ++r) b.segment[r] = n;
    b.numel = n;
    if (owners_.empty()) b.flat = at::zeros({n}, flatOptions_);
    b.has.assign(b.params.size(), false);
  }
  reset();
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].tensor.requires_grad()) {
      hooks_.push_back(~0u);
      continue;
    }
    hooks_.push_back(params_[k].tensor.register_hook([this, k](const at::Tensor& g) { onGradient(k, g); }));
  }
}

GradientSync::~GradientSync() {
  for (size_t k = 0; k < params_.size(); ++k) {
    if (hooks_[k] != ~0u) {
      try {
        params_[k].tensor.remove_hook(hooks_[k]);
      } catch (...) {
      }
    }
  }
  // A step that failed midway may leave buckets in flight: let them end (they fail fast once a
  // peer is gone, and never outlive the group's timeout).
  for (Bucket& b : buckets_) {
    if (b.pending) {
      try {
        b.pending->wait();
      } catch (...) {
      }
    }
  }
}

void GradientSync::broadcastParameters() {
  at::NoGradGuard noGrad;
  int64_t n = 0;
  for (auto& p : params_) n += p.tensor.numel();
  at::Tensor flat = at::empty({n}, flatOptions_);
  int64_t off = 0;
  for (auto& p : params_) {
    flat.narrow(0, off, p.tensor.numel()).copy_(p.tensor.reshape(-1));
    off += p.tensor.numel();
  }
  group_->broadcast(flat, 0);
  off = 0;
  for (auto& p : params_) {
    p.tensor.copy_(flat.narrow(0, off, p.tensor.numel()).view(p.tensor.sizes()));
    off += p.tensor.numel();
  }
}

void GradientSync::reset() {
  for (Bucket& b : buckets_) {
    b.arrived = 0;
    b.has.assign(b.params.size(), false);
    b.pending.reset();
  }
  nextLaunch_ = 0;
}

void GradientSync::arm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
}

void GradientSync::onGradient(size_t k, const at::Tensor& incoming) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;
  auto [bi, slot] = where_[k];
  Bucket& b = buckets_[bi];
  if (bi < nextLaunch_) {
    fail(code::kDistributed, "the gradient of " + params_[k].name + " arrived twice in one backward, after its bucket was sent");
  }
  at::NoGradGuard noGrad;
  const at::Tensor& p = params_[k].tensor;
  at::Tensor dst = flatOf(b).narrow(0, b.offsets[slot], p.numel());
  // The hook sees what is about to be accumulated; .grad holds the earlier micro-steps' part.
  const at::Tensor& acc = p.grad();
  if (acc.defined()) dst.copy_((acc.reshape(-1).to(at::kFloat) + incoming.reshape(-1).to(at::kFloat)));
  else dst.copy_(incoming.reshape(-1));
  if (!b.has[slot]) {
    b.has[slot] = true;
    ++b.arrived;
  }
  launchReady();
}

at::Tensor& GradientSync::flatOf(Bucket& b) {
  if (!b.flat.defined()) b.flat = at::empty({b.numel}, flatOptions_);
  return b.flat;
}

void GradientSync::launch(Bucket& b) {
  if (owners_.empty()) {
    b.pending.emplace(group_->allReduceSumAsync(b.flat, "gradient all-reduce"));
    return;
  }
  std::vector<at::Tensor> parts;
  for (int r = 0; r < group_->size(); ++r) parts.push_back(b.flat.narrow(0, b.segment[r], b.segment[r + 1] - b.segment[r]));
  const int me = group_->rank();
  b.mine = at::empty({b.segment[me + 1] - b.segment[me]}, flatOptions_);
  b.pending.emplace(group_->reduceScatterSumAsync(std::move(parts), b.mine, "gradient reduce-scatter"));
}

void GradientSync::launchReady() {
  while (nextLaunch_ < buckets_.size() && buckets_[nextLaunch_].arrived == buckets_[nextLaunch_].params.size()) {
    launch(buckets_[nextLaunch_]);
    ++nextLaunch_;
  }
}

void GradientSync::finish(at::Tensor stats) {
  at::NoGradGuard noGrad;
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    // Gradients that never came through a hook this step: take .grad as it is (or zeros).
    for (size_t bi = nextLaunch_; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      for (size_t s = 0; s < b.params.size(); ++s) {
        if (b.has[s]) continue;
        const at::Tensor& p = params_[b.params[s]].tensor;
        at::Tensor dst = flatOf(b).narrow(0, b.offsets[s], p.numel());
        if (p.grad().defined()) dst.copy_(p.grad().reshape(-1));
        else dst.zero_();
        b.has[s] = true;
        ++b.arrived;
      }
    }
    launchReady();
  }
  std::optional<PendingCollective> statsPending;
  if (stats.defined()) statsPending.emplace(group_->allReduceSumAsync(stats, "training statistics all-reduce"));
  const int me = group_->rank();
  for (Bucket& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    for (size_t s = 0; s < b.params.size(); ++s) {
      at::Tensor p = params_[b.params[s]].tensor;
      if (!owners_.empty() && owners_[b.params[s]] != me) {
        p.mutable_grad() = at::Tensor();  // ZeRO-2: the owner alone keeps this gradient
        continue;
      }
      at::Tensor src = owners_.empty() ? b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes())
                                       : b.mine.narrow(0, b.offsets[s] - b.segment[me], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(src);
      else p.mutable_grad() = src.to(p.scalar_type()).clone();
    }
    if (!owners_.empty()) {
      b.flat = at::Tensor();
      b.mine = at::Tensor();
    }
  }
  if (statsPending) statsPending->wait();
  std::lock_guard<std::mutex> lock(mu_);
  reset();  // a rank without data in the next step never arms: start it clean here
}

}  // namespace cn
