// ZeRO stage 1 for the data-parallel trainer: the optimizer state is sharded over the ranks.
// Each trainable parameter has one owner rank (assigned greedily by size, the same on every
// rank); a rank keeps AdamW moments and runs the update for its own parameters only, then every
// owner broadcasts its updated parameters. Gradients are still all-reduced in full (stage 2,
// reduce-scatter of gradients, is not done), so clipping sees the global gradient as before.
// For checkpoints the shards are gathered, so the file is the same as one process's.
#pragma once
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
  // After this rank's optimizer step: every parameter takes its owner's values.
  void broadcastParameters();
  // Every rank calls it; returns the whole optimizer state ("<name>.exp_avg", "<name>.exp_avg_sq")
  // on every rank, from the owners' shards (`mine`: this rank's optimizer.state()).
  std::vector<NamedTensor> gatherState(const std::vector<NamedTensor>& mine);

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::vector<NamedTensor> params_;
  std::vector<int> owner_;
};

}  // namespace cn
