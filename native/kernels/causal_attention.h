// Causal self-attention over whole sequences without a mask (training steps, LwF's teacher,
// evaluation, and a prefill whose prompts need no padding; left-padded prompts take SDPA with a
// mask): softmax(q kᵀ / √D, key j visible to query i when j ≤ i) v, with
// grouped-query heads (query head h reads kv head h / (Hq / Hkv)). causal_attention_cpu.cc says
// why it beats ATen's flash kernel on CPU. Decoder::attention sends its plain causal passes here;
// CN_CAUSAL_ATTENTION=0 turns that off (to measure it).
#pragma once
#include "kernels/kernels.h"

namespace cn::kernels {

bool causalAttentionEnabled();

// q [B, Hq, S, D], k and v [B, Hkv, S, D]: the result is [B, Hq, S, D], laid out as [B, S, Hq, D]
// (so out.transpose(1, 2) is contiguous: the output projection's input without a copy).
// Differentiable in q, k and v.
at::Tensor causalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl = Impl::Auto);

// The reference (causal_attention_ref.cc): ATen's scaled_dot_product_attention, is_causal.
at::Tensor causalAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Why the CPU kernel cannot take these inputs (float32 CPU, the shapes above, every last stride 1,
// D a multiple of 8 up to 128); empty when it can.
std::string causalAttentionCpuProblem(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// The CPU kernel; its backward is ATen's flash-attention backward, fed this forward's
// log-sum-exp (the same convention as ATen's flash forward).
at::Tensor causalAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace cn::kernels
