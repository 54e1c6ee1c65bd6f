#include "train/batches.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace cn {

std::vector<std::vector<int64_t>> planEpoch(const std::vector<Example>& examples, int64_t batchSize, uint64_t seed,
                                            int64_t epoch, bool groupByLength) {
  std::vector<int64_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  // Fisher–Yates with our own draw so the order is the same with every C++ standard library.
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  if (groupByLength) {
    // Sort by length inside mega-batches of 50 micro-batches: little padding, still random.
    const int64_t mega = batchSize * 50;
    for (size_t start = 0; start < order.size(); start += mega) {
      auto end = order.begin() + std::min<size_t>(order.size(), start + mega);
      std::stable_sort(order.begin() + start, end, [&](int64_t a, int64_t b) { return examples[a].ids.size() > examples[b].ids.size(); });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += batchSize) {
    batches.emplace_back(order.begin() + start, order.begin() + std::min<size_t>(order.size(), start + batchSize));
  }
  if (groupByLength) {
    // Shuffle the batches themselves so epochs do not go from longest to shortest.
    for (int64_t i = static_cast<int64_t>(batches.size()) - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
      std::swap(batches[i], batches[j]);
    }
  }
  return batches;
}

Batch makeBatch(const std::vector<Example>& examples, const std::vector<int64_t>& indices, int64_t padId, at::Device device) {
  int64_t maxLen = 1;
  for (int64_t i : indices) maxLen = std::max<int64_t>(maxLen, examples[i].ids.size());
  const int64_t B = indices.size();
  at::Tensor ids = at::full({B, maxLen}, padId, at::kLong);
  at::Tensor labels = at::full({B, maxLen}, -100, at::kLong);
  at::Tensor valid = at::zeros({B, maxLen}, at::kBool);
  auto idsA = ids.accessor<int64_t, 2>();
  auto labA = labels.accessor<int64_t, 2>();
  auto valA = valid.accessor<bool, 2>();
  Batch batch;
  for (int64_t r = 0; r < B; ++r) {
    const Example& e = examples[indices[r]];
    for (size_t t = 0; t < e.ids.size(); ++t) {
      idsA[r][t] = e.ids[t];
      labA[r][t] = e.labels[t];
      valA[r][t] = true;
      if (t > 0 && e.labels[t] != -100) ++batch.labelledTokens;
    }
    batch.tokens += e.ids.size();
  }
  batch.inputIds = ids.to(device);
  batch.labels = labels.to(device);
  batch.keyValid = valid.to(device);
  return batch;
}

}  // namespace cn
