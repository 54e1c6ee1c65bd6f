// Attention of one new query per row over the KV cache (a decoding step), float32 CPU.
// decode_attention_cpu.cc says why it beats SDPA there. Decoder::attention sends decoding steps
// it applies to here; CN_DECODE_ATTENTION=0 turns that off (to measure it).
#pragma once
#include <ATen/core/Tensor.h>

namespace cn::kernels {

bool decodeAttentionEnabled();

// q [B, Hq, 1, D], k and v [B, Hkv, T, D] (any strides whose last one is 1: a narrowed cache),
// Hq a multiple of Hkv (grouped-query: query head h reads kv head h / (Hq / Hkv)), float32 CPU,
// no gradient wanted.
bool decodeAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// softmax(q kᵀ / √D over the visible keys) v as [B, 1, Hq · D]. Key t of row b is visible when
// t < prefix (prefix-tuning keys), or keyValid[b][t − prefix] (keyValid [B, T − prefix] bool), or
// it is the last key (the query's own position: a row of padding never sees nothing).
at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyValid, int64_t prefix);

// The same through ATen's scaled_dot_product_attention and a mask: the reference the kernel is
// tested against (and the path taken where the kernel does not apply).
at::Tensor decodeAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyValid,
                                    int64_t prefix);

}  // namespace cn::kernels
