#include "encoders/pooling.h"

#include <limits>

#include "core/errors.h"

namespace cn {

void checkPoolingModes(const std::vector<std::string>& modes) {
  if (modes.empty()) fail(code::kConfig, "pooling needs at least one mode", {{"field", "pooling_mode"}});
  for (const auto& m : modes) {
    if (m != "cls" && m != "max" && m != "mean" && m != "mean_sqrt_len_tokens" && m != "weightedmean" && m != "lasttoken") {
      fail(code::kConfig, "unsupported pooling mode '" + m + "' (supported: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken)",
           {{"field", "pooling_mode"}});
    }
  }
}

at::Tensor poolSentences(const at::Tensor& tokens, const at::Tensor& valid, const std::vector<std::string>& modes) {
  checkPoolingModes(modes);
  const int64_t seq = tokens.size(1);
  at::Tensor mask = valid.to(tokens.scalar_type()).unsqueeze(-1);  // [B, S, 1]
  at::Tensor lengths = mask.sum(1).clamp_min(1e-9);                 // [B, 1]
  std::vector<at::Tensor> parts;
  for (const auto& mode : modes) {
    if (mode == "cls") {
      parts.push_back(tokens.select(1, 0));  // right padding: the first token is real
    } else if (mode == "max") {
      parts.push_back(tokens.masked_fill(mask == 0, -std::numeric_limits<float>::infinity()).amax(1));
    } else if (mode == "mean") {
      parts.push_back((tokens * mask).sum(1) / lengths);
    } else if (mode == "mean_sqrt_len_tokens") {
      parts.push_back((tokens * mask).sum(1) / lengths.sqrt());
    } else if (mode == "weightedmean") {
      // position weights 1..S, as sentence-transformers uses
      at::Tensor w = mask * at::arange(1, seq + 1, tokens.options()).view({1, seq, 1});
      parts.push_back((tokens * w).sum(1) / w.sum(1).clamp_min(1e-9));
    } else {  // lasttoken
      at::Tensor last = (valid.to(at::kLong).sum(1) - 1).clamp_min(0);  // right padding
      parts.push_back(tokens.index({at::arange(tokens.size(0), last.options()), last}));
    }
  }
  return parts.size() == 1 ? parts[0] : at::cat(parts, 1);
}

at::Tensor l2Normalize(const at::Tensor& x) { return x / x.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12); }

}  // namespace cn
