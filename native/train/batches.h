// Batching of tokenised examples: a seeded shuffle per epoch, optional grouping by length
// (examples of similar length share a micro-batch, so little padding is computed), and
// right-padding into [B, S] tensors (labels -100 and keyValid false on padding).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace cn {

struct Example {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;  // -100 where no loss
};

struct Batch {
  at::Tensor inputIds, labels, keyValid;  // [B, S]
  int64_t labelledTokens = 0;             // targets after the shift
  int64_t tokens = 0;                     // real tokens
};

// The micro-batches of one epoch, as lists of example indices.
std::vector<std::vector<int64_t>> planEpoch(const std::vector<Example>& examples, int64_t batchSize, uint64_t seed,
                                            int64_t epoch, bool groupByLength);

Batch makeBatch(const std::vector<Example>& examples, const std::vector<int64_t>& indices, int64_t padId, at::Device device);

}  // namespace cn
