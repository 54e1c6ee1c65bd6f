// Episodic memory shared by GEM and A-GEM: m seeded samples kept per finished task.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/batches.h"
#include "tuners/tuner.h"

namespace cn {

class EpisodicMemory {
 public:
  EpisodicMemory(int64_t perTask, uint64_t seed) : perTask_(perTask), seed_(seed) {}
  void add(int64_t task, const std::vector<Example>& data);
  const std::vector<std::vector<Example>>& tasks() const { return tasks_; }
  bool empty() const { return tasks_.empty(); }
  std::vector<NamedTensor> state() const;
  void loadState(const std::map<std::string, at::Tensor>& s);

 private:
  int64_t perTask_;
  uint64_t seed_;
  std::vector<std::vector<Example>> tasks_;
};

}  // namespace cn
