// ZeRO stages 1 and 2 for the data-parallel trainer. Each trainable parameter has one owner rank
// (assigned greedily by size, the same on every rank); a rank keeps AdamW moments and runs the
// update for its own parameters only, then every owner broadcasts its updated parameters.
//   Stage 1: the optimizer state is sharded; gradients are still all-reduced in full.
//   Stage 2: the gradients too: GradientSync reduce-scatters them to their owners and frees the
//            rest, so a rank holds only its owned gradients; clipping uses the global norm from
//            the all-reduced squared norms of the owned shards (clipGradNorm here).
// For checkpoints the shards are gathered, so the file is the same as one process's (and does not
// depend on the world size or the stage). Every buffer that goes on the wire is on the group's
// device, which is the parameters' (the trainer checks): CPU for gloo, CUDA for NCCL.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "dist/process_group.h"
#include "tuners/tuner.h"

namespace cn {

class ShardedOptimizerState {
 public:
  ShardedOptimizerState(std::shared_ptr<ProcessGroup> group, std::vector<NamedTensor> params);
  // The parameters whose optimizer state this rank keeps.
  std::vector<NamedTensor> owned() const;
  // Each parameter's owner rank.
  const std::vector<int>& owners() const { return owner_; }
  // ZeRO-2: scales the owned gradients so the global L2 norm (over every rank's shard, one
  // all-reduce of the squared norms) is at most maxNorm; returns the norm before clipping.
  double clipGradNorm(double maxNorm);
  // ZeRO-2: every rank gets every parameter's reduced gradient from its owner (for a tuner whose
  // after-step hook reads all gradients: AdaLoRA's importance scores).
  void gatherGradients();
  // After this rank's optimizer step: every parameter takes its owner's values.
  void broadcastParameters();
  // Every rank calls it; returns the whole optimizer state ("<name>.exp_avg", "<name>.exp_avg_sq")
  // on every rank, from the owners' shards (`mine`: this rank's optimizer.state()).
  std::vector<NamedTensor> gatherState(const std::vector<NamedTensor>& mine);

 private:
  // For each rank r in turn: r packs mine(k) of every tensor k it owns (zeros where undefined)
  // into one buffer and broadcasts it; every other rank gets tensor k's part through receive(k, ·).
  void broadcastFromOwners(const std::function<at::Tensor(size_t)>& mine, const std::function<void(size_t, const at::Tensor&)>& receive);

  std::shared_ptr<ProcessGroup> group_;
  std::vector<NamedTensor> params_;
  std::vector<int> owner_;
};

}  // namespace cn
