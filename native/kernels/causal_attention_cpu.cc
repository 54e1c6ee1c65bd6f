// Causal self-attention over whole sequences, float32 CPU: the forward kernel. The backward is
// ATen's flash-attention backward, fed this forward's log-sum-exp.
//
// ATen's CPU flash kernel splits queries and keys into blocks and runs each block's two products
// through its generic small-GEMM, masking the causal half inside the diagonal blocks: on the tiny
// model's layer ([8, 8, 128, 32], grouped 4:1) it took 1.67 ms, ~40 GFLOP/s of the causal work.
// Here a task is (row b, query head h, block of 32 queries):
//   - the kv head's keys are transposed once per call to [D][S], so a tile of scores (4 queries ×
//     16 keys) is D broadcast multiply-adds into 8 vector accumulators, no horizontal sums;
//   - keys after a tile's last query are never read (the causal half is skipped, not masked);
//   - the softmax runs over the block's score rows in L1 and writes the log-sum-exp;
//   - P·V accumulates R queries × D in registers, one pass over the visible values.
// Each output is one thread's sum in a fixed order: deterministic.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/errors.h"
#include "kernels/causal_attention.h"
#include "kernels/cpu_loops.h"

namespace cn::kernels {
namespace {

using cpu::Lanes8;
using cpu::load8;

constexpr int64_t kBlock = 32;  // queries per task
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileKeys = 16;  // two eight-lane vectors

__attribute__((always_inline)) inline void store8(float* p, const Lanes8& v) { *reinterpret_cast<cpu::Lanes8At*>(p) = v; }
int64_t roundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

struct Views {
  const float *q, *kt, *v;  // kt: [B · Hkv][D][Sp], the keys transposed, zero past S
  float *out, *lse;         // out [B, S, Hq, D], lse [B, S, Hq]
  int64_t Hq, G, S, Sp;
  int64_t qB, qH, qS, vB, vH, vS;  // strides
};

// x[j] = e^(x[j] − m) for j < n; returns their sum
__attribute__((always_inline)) inline float expInPlace(float* x, int64_t n, float m) {
  Lanes8 s = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    Lanes8 e = load8(x + j) - m;
    cpu::exp8(e, e);
    store8(x + j, e);
    s += e;
  }
  float out = cpu::sumLanes(s);
  for (; j < n; ++j) {
    const float e = cpu::expf(x[j] - m);
    x[j] = e;
    out += e;
  }
  return out;
}

// DV = D / 8 vectors per head row. R queries share one pass over the values: R · DV accumulators
// fit the 16 (AVX2) vector registers.
template <int DV>
CN_CPU_CLONES void attendBlock(const Views& a, int64_t b, int64_t h, int64_t i0, float* scores) {
  constexpr int64_t D = DV * 8;
  constexpr int R = DV >= 16 ? 1 : (DV >= 8 ? 2 : 4);
  const int64_t i1 = std::min(a.S, i0 + kBlock);
  const int64_t g = h / a.G;
  const float* kt = a.kt + (b * (a.Hq / a.G) + g) * D * a.Sp;
  const float* v = a.v + b * a.vB + g * a.vH;
  const float* q = a.q + b * a.qB + h * a.qH;
  const float scale = 1.f / std::sqrt(static_cast<float>(D));

  // scores[i − i0][j] = scale · q_i · k_j for keys up to each tile's last query (rows past the
  // block repeat its last query into unused score rows)
  for (int64_t r0 = i0; r0 < i1; r0 += kTileRows) {
    const float* q0 = q + std::min(r0, i1 - 1) * a.qS;
    const float* q1 = q + std::min(r0 + 1, i1 - 1) * a.qS;
    const float* q2 = q + std::min(r0 + 2, i1 - 1) * a.qS;
    const float* q3 = q + std::min(r0 + 3, i1 - 1) * a.qS;
    float* s = scores + (r0 - i0) * a.Sp;
    const int64_t keys = roundUp(std::min(r0 + kTileRows, i1), kTileKeys);
    for (int64_t j = 0; j < keys; j += kTileKeys) {
      Lanes8 c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {};
      const float* kp = kt + j;
#pragma GCC unroll 8
      for (int64_t d = 0; d < D; ++d, kp += a.Sp) {
        const Lanes8 k0 = load8(kp), k1 = load8(kp + 8);
        const float x0 = q0[d], x1 = q1[d], x2 = q2[d], x3 = q3[d];
        c00 += x0 * k0;
        c01 += x0 * k1;
        c10 += x1 * k0;
        c11 += x1 * k1;
        c20 += x2 * k0;
        c21 += x2 * k1;
        c30 += x3 * k0;
        c31 += x3 * k1;
      }
      store8(s + j, c00 * scale);
      store8(s + j + 8, c01 * scale);
      store8(s + a.Sp + j, c10 * scale);
      store8(s + a.Sp + j + 8, c11 * scale);
      store8(s + 2 * a.Sp + j, c20 * scale);
      store8(s + 2 * a.Sp + j + 8, c21 * scale);
      store8(s + 3 * a.Sp + j, c30 * scale);
      store8(s + 3 * a.Sp + j + 8, c31 * scale);
    }
  }

  // softmax of query i over keys [0, i]; zeros after it up to the block's end (the P·V pass of
  // a group reads up to its last query's keys)
  float sums[kBlock];
  for (int64_t i = i0; i < i1; ++i) {
    float* s = scores + (i - i0) * a.Sp;
    const float m = cpu::maxOf(s, i + 1);
    sums[i - i0] = expInPlace(s, i + 1, m);
    std::fill(s + i + 1, s + i1, 0.f);
    a.lse[(b * a.S + i) * a.Hq + h] = m + std::log(sums[i - i0]);
  }

  // out_i = Σ_j p_ij v_j / Σ_j p_ij
  for (int64_t r0 = i0; r0 < i1; r0 += R) {
    const int rows = static_cast<int>(std::min<int64_t>(R, i1 - r0));
    const float* p[R];
    for (int t = 0; t < R; ++t) p[t] = scores + (std::min<int64_t>(r0 + t, i1 - 1) - i0) * a.Sp;
    Lanes8 acc[R][DV] = {};
    const int64_t keys = r0 + rows;
    for (int64_t j = 0; j < keys; ++j) {
      const float* vj = v + j * a.vS;
      float pj[R];
#pragma GCC unroll 4
      for (int t = 0; t < R; ++t) pj[t] = p[t][j];
#pragma GCC unroll 16
      for (int c = 0; c < DV; ++c) {
        const Lanes8 x = load8(vj + 8 * c);
#pragma GCC unroll 4
        for (int t = 0; t < R; ++t) acc[t][c] += pj[t] * x;
      }
    }
    for (int t = 0; t < rows; ++t) {
      const float inv = 1.f / sums[r0 + t - i0];
      float* o = a.out + ((b * a.S + r0 + t) * a.Hq + h) * D;
#pragma GCC unroll 16
      for (int c = 0; c < DV; ++c) store8(o + 8 * c, acc[t][c] * inv);
    }
  }
}

using BlockFn = void (*)(const Views&, int64_t, int64_t, int64_t, float*);

BlockFn blockFn(int64_t D) {
  switch (D) {
    case 8: return attendBlock<1>;
    case 16: return attendBlock<2>;
    case 32: return attendBlock<4>;
    case 64: return attendBlock<8>;
    case 128: return attendBlock<16>;
    default: return nullptr;
  }
}

// out [B, S, Hq, D] and the log-sum-exp [B, S, Hq], both viewed with the heads before S: the
// layouts ATen's flash forward returns, which its backward reads fastest (1.25× on [16, 14, 64, 64])
std::pair<at::Tensor, at::Tensor> attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  RECORD_FUNCTION("cn::causalAttention", std::vector<c10::IValue>());
  const int64_t B = q.size(0), Hq = q.size(1), S = q.size(2), D = q.size(3), Hkv = k.size(1);
  const int64_t Sp = roundUp(S, kTileKeys);
  at::Tensor kt = at::zeros({B * Hkv, D, Sp}, q.options());
  {
    const float* kp = k.const_data_ptr<float>();
    float* tp = kt.mutable_data_ptr<float>();
    const int64_t kB = k.stride(0), kH = k.stride(1), kS = k.stride(2);
    at::parallel_for(0, B * Hkv, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bg = begin; bg < end; ++bg) {
        const float* src = kp + (bg / Hkv) * kB + (bg % Hkv) * kH;
        float* dst = tp + bg * D * Sp;
        for (int64_t j = 0; j < S; ++j) {
          for (int64_t d = 0; d < D; ++d) dst[d * Sp + j] = src[j * kS + d];
        }
      }
    });
  }
  at::Tensor out = at::empty({B, S, Hq, D}, q.options());
  at::Tensor lse = at::empty({B, S, Hq}, q.options());
  const Views a{q.const_data_ptr<float>(), kt.const_data_ptr<float>(), v.const_data_ptr<float>(), out.mutable_data_ptr<float>(),
                lse.mutable_data_ptr<float>(), Hq, Hq / Hkv, S, Sp, q.stride(0), q.stride(1), q.stride(2), v.stride(0), v.stride(1),
                v.stride(2)};
  const BlockFn fn = blockFn(D);
  const int64_t blocks = (S + kBlock - 1) / kBlock;
  at::parallel_for(0, B * Hq * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(kBlock * Sp);
    for (int64_t t = begin; t < end; ++t) fn(a, t / (Hq * blocks), (t / blocks) % Hq, (t % blocks) * kBlock, scores.data());
  });
  return {out.transpose(1, 2), lse.transpose(1, 2)};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CausalAttentionCpuFunction : public torch::autograd::Function<CausalAttentionCpuFunction> {
  // `withGrad`: whether autograd will call backward (Function::apply runs forward with grad mode
  // off, so the caller decides).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool withGrad) {
    auto [out, lse] = attend(q, k, v);
    if (withGrad) ctx->save_for_backward({q, k, v, out, lse});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("cn::causalAttention backward", std::vector<c10::IValue>());
    auto s = ctx->get_saved_variables();
    const double scale = 1.0 / std::sqrt(static_cast<double>(s[0].size(3)));
    auto [dq, dk, dv] = at::_scaled_dot_product_flash_attention_for_cpu_backward(grads[0], s[0], s[1], s[2], s[3], s[4], 0.0,
                                                                                  /*is_causal=*/true, c10::nullopt, scale);
    return {dq, dk, dv, at::Tensor()};
  }
};

}  // namespace

bool causalAttentionEnabled() {
  static const bool on = switchedOn("CN_CAUSAL_ATTENTION");
  return on;
}

std::string causalAttentionCpuProblem(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  for (const at::Tensor* t : {&q, &k, &v}) {
    if (!t->defined()) return "q, k and v must be defined";
    if (!t->device().is_cpu()) return "CPU tensors only";
    if (t->scalar_type() != at::kFloat) return "float32 only";
    if (t->dim() != 4) return "q, k and v must be 4-D ([B, H, S, D])";
    if (t->stride(3) != 1) return "the last dimension must be contiguous";
  }
  if (!k.sizes().equals(v.sizes())) return "k and v must have one shape";
  if (q.size(0) != k.size(0) || q.size(2) != k.size(2) || q.size(3) != k.size(3)) return "q must be [B, Hq, S, D] over k's B, S and D";
  if (q.size(2) == 0 || q.size(0) == 0) return "empty sequences";
  if (k.size(1) == 0 || q.size(1) % k.size(1) != 0) return "Hq must be a multiple of Hkv";
  if (blockFn(q.size(3)) == nullptr) return "head dimension " + std::to_string(q.size(3)) + " (8, 16, 32, 64 or 128 only)";
  return {};
}

at::Tensor causalAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const bool withGrad = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  return CausalAttentionCpuFunction::apply(q, k, v, withGrad);
}

at::Tensor causalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl) {
  if (impl == Impl::Cuda) {
    // on CUDA the reference is the fused path: SDPA's flash / memory-efficient kernels
    fail(code::kInvalidArgument, "causalAttention has no CUDA kernel of its own (use impl 'auto' or 'reference': SDPA)", {{"field", "impl"}});
  }
  if (impl == Impl::Auto && !causalAttentionEnabled()) return causalAttentionReference(q, k, v);
  if (chooseCpu(impl, "causalAttention", q, causalAttentionCpuProblem(q, k, v))) return causalAttentionCpu(q, k, v);
  return causalAttentionReference(q, k, v);
}

}  // namespace cn::kernels
