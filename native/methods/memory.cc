#include "methods/memory.h"

#include <random>

#include "methods/method.h"

namespace cn {

void EpisodicMemory::add(int64_t task, const std::vector<Example>& data) {
  std::vector<int64_t> idx(data.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(seed_ * 104729 + static_cast<uint64_t>(task));
  for (int64_t i = static_cast<int64_t>(idx.size()) - 1; i > 0; --i) std::swap(idx[i], idx[rng() % static_cast<uint64_t>(i + 1)]);
  idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(perTask_)));
  std::vector<Example> kept;
  for (int64_t i : idx) kept.push_back(data[i]);
  tasks_.push_back(std::move(kept));
}

std::vector<NamedTensor> EpisodicMemory::state() const {
  std::vector<NamedTensor> out;
  for (size_t t = 0; t < tasks_.size(); ++t) {
    auto packed = packExamples("memory." + std::to_string(t), tasks_[t]);
    out.insert(out.end(), packed.begin(), packed.end());
  }
  return out;
}

void EpisodicMemory::loadState(const std::map<std::string, at::Tensor>& s) {
  tasks_.clear();
  for (size_t t = 0; s.count("memory." + std::to_string(t) + ".ids"); ++t) tasks_.push_back(unpackExamples("memory." + std::to_string(t), s));
}

}  // namespace cn
