// Sentence pooling as sentence-transformers' Pooling module computes it: token embeddings
// [B, S, H] and the real-token mask [B, S] → one vector per sentence, the chosen modes
// concatenated in the order given; then optionally L2-normalised (its Normalize module).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace cn {

// Modes: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken. ERR_CONFIG for others.
void checkPoolingModes(const std::vector<std::string>& modes);

// [B, H × modes.size()] fp32.
at::Tensor poolSentences(const at::Tensor& tokens, const at::Tensor& valid, const std::vector<std::string>& modes);

// x / max(‖x‖₂, 1e-12) per row.
at::Tensor l2Normalize(const at::Tensor& x);

}  // namespace cn
