// Causal-LM loss on labelled positions only: the hidden state at position t predicts label t+1;
// logits are computed just for the positions whose next label is not -100 (the prompt and the
// padding never reach the [tokens × vocab] projection).
#pragma once
#include <ATen/ATen.h>

namespace cn {

class Decoder;

struct LossSum {
  at::Tensor sum;      // scalar: summed cross-entropy over labelled tokens (has grad)
  int64_t tokens = 0;  // labelled tokens counted
  at::Tensor logits;   // [tokens, V] fp32 logits at the labelled positions (undefined when none, or not kept)
};

// inputIds, labels [B, S] int64; keyValid [B, S] bool (undefined: all real). keepLogits false: the
// caller does not need `logits`, so the loss may run over chunks of rows without ever holding them
// (on CUDA, or with CN_CHUNKED_LOSS=1; kernels/linear_cross_entropy.h).
LossSum causalLmLossSum(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels, const at::Tensor& keyValid,
                        bool keepLogits = true);

// Hidden states of the positions that predict a label, and those labels: [N, H], [N]. The last
// layer runs its MLP on those positions only (Decoder::hiddenAt). N may be 0.
std::pair<at::Tensor, at::Tensor> labelledHidden(Decoder& model, const at::Tensor& inputIds, const at::Tensor& labels,
                                                 const at::Tensor& keyValid);

}  // namespace cn
