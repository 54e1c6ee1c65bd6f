// One decoding step's attention over the KV cache, float32 CPU.
//
// ATen's SDPA takes a decoding step ([B, H, 1, D] queries) through its flash kernel, built for
// long query blocks: on the tiny model (16 rows, 8 heads of 32, ~120 cached keys) a layer's step
// took ~0.25 ms, about the time of all that layer's products, plus the mask tensor built for it
// each step. Here each (row, query head) is one task: its scores against the cached keys, a
// softmax, and the weighted sum of values, all in one pass over L1-resident data; the visible
// keys come straight from the key-validity row, no mask tensor. Each output is computed by one
// thread in a fixed order: deterministic.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <vector>

#include "kernels/cpu_loops.h"
#include "kernels/kernels.h"
#include "kernels/decode_attention.h"

namespace cn::kernels {
namespace {

struct Views {
  const float *q, *k, *v;
  const bool* valid;  // [B, T - prefix]
  float* out;         // [B, Hq * D]
  int64_t Hq, G, T, D, prefix;
  int64_t qB, qH, kB, kH, kT, vB, vH, vT;  // strides
};

// out row b, head h: softmax over visible keys of q·k / √D, times v. `scores` has room for T.
CN_CPU_CLONES void headStep(const Views& a, int64_t b, int64_t h, float* scores) {
  const float* q = a.q + b * a.qB + h * a.qH;
  const int64_t g = h / a.G;
  const float* k = a.k + b * a.kB + g * a.kH;
  const float* v = a.v + b * a.vB + g * a.vH;
  const bool* valid = a.valid + b * (a.T - a.prefix);
  const float scale = 1.f / std::sqrt(static_cast<float>(a.D));
  const float ninf = -__builtin_inff();
  float m = ninf;
  for (int64_t t = 0; t < a.T; ++t) {
    const bool visible = t < a.prefix || t == a.T - 1 || valid[t - a.prefix];
    const float s = visible ? cpu::dot(q, k + t * a.kT, a.D) * scale : ninf;
    scores[t] = s;
    m = s > m ? s : m;
  }
  float sum = 0.f;
  for (int64_t t = 0; t < a.T; ++t) {
    const float e = scores[t] == ninf ? 0.f : cpu::expf(scores[t] - m);
    scores[t] = e;
    sum += e;
  }
  float* o = a.out + b * a.Hq * a.D + h * a.D;
  for (int64_t d = 0; d < a.D; ++d) o[d] = 0.f;
  for (int64_t t = 0; t < a.T; ++t) {
    const float p = scores[t];
    if (p == 0.f) continue;
    const float* vt = v + t * a.vT;
    for (int64_t d = 0; d < a.D; ++d) o[d] += p * vt[d];
  }
  const float inv = 1.f / sum;
  for (int64_t d = 0; d < a.D; ++d) o[d] *= inv;
}

}  // namespace

bool decodeAttentionEnabled() {
  static const bool on = switchedOn("CN_DECODE_ATTENTION");
  return on;
}

bool decodeAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (!decodeAttentionEnabled() || at::GradMode::is_enabled()) return false;
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || q.size(2) != 1) return false;
  for (const at::Tensor* t : {&q, &k, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || t->stride(3) != 1) return false;
  }
  return k.sizes() == v.sizes() && q.size(0) == k.size(0) && q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0 &&
         k.size(2) > 0;
}

at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyValid, int64_t prefix) {
  RECORD_FUNCTION("cn::decodeAttention", std::vector<c10::IValue>());
  const int64_t B = q.size(0), Hq = q.size(1), D = q.size(3), Hkv = k.size(1), T = k.size(2);
  TORCH_CHECK(keyValid.dim() == 2 && keyValid.size(0) == B && keyValid.size(1) == T - prefix, "decodeAttention: keyValid must be [B, T - prefix]");
  const at::Tensor valid = keyValid.to(at::kBool).contiguous();
  at::Tensor out = at::empty({B, 1, Hq * D}, q.options());
  const Views a{q.const_data_ptr<float>(), k.const_data_ptr<float>(), v.const_data_ptr<float>(), valid.const_data_ptr<bool>(),
                out.mutable_data_ptr<float>(), Hq, Hq / Hkv, T, D, prefix,
                q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2)};
  // a task is ~T·D·4 flops; at least ~32k of them per thread
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, 4 * T * D));
  at::parallel_for(0, B * Hq, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(T);
    for (int64_t i = begin; i < end; ++i) headStep(a, i / Hq, i % Hq, scores.data());
  });
  return out;
}

at::Tensor decodeAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyValid,
                                    int64_t prefix) {
  const int64_t B = q.size(0), Hq = q.size(1), D = q.size(3), T = k.size(2);
  at::Tensor visible = at::cat({at::ones({B, prefix}, keyValid.options().dtype(at::kBool)), keyValid.to(at::kBool)}, 1);
  visible.select(1, T - 1).fill_(true);
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, visible.view({B, 1, 1, T}), 0.0, false, {}, /*enable_gqa=*/Hq != k.size(1));
  return out.transpose(1, 2).reshape({B, 1, Hq * D});
}

}  // namespace cn::kernels
