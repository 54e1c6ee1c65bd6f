// Batched generation with a KV cache: prompts are left-padded into one batch, prefilled once,
// then decoded a token per step for every row until each row hits EOS or maxNewTokens.
// Greedy, or sampling with temperature / top-k / top-p from a seeded generator.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/options.h"
#include "core/progress.h"

namespace cn {

class Decoder;

struct GenerateOptions {
  int64_t maxNewTokens = 64;
  bool sample = false;
  double temperature = 1.0;
  int64_t topK = 0;    // 0 = off
  double topP = 1.0;   // 1 = off
  std::vector<int64_t> eosIds;
  int64_t padId = 0;
  uint64_t seed = 0;

  static GenerateOptions fromOptions(const Options& o);
};

// Called after every decoding step with the new token of each row (-1 for rows already done);
// return false to stop early (stop strings, abort).
using TokenCallback = std::function<bool(const std::vector<int64_t>& tokens)>;

std::vector<std::vector<int64_t>> generate(Decoder& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& options, const TokenCallback& onStep);

}  // namespace cn
